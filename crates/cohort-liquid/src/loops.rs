//! `for` and `tablerow`, adapted from liquid-lib's (MIT, cobalt-org) with
//! two changes: a counted range (`(1..n)`) is walked, not materialised, and
//! every iteration is charged to the render's budget, so all loops of a
//! render together run at most [`crate::MAX_LOOP_ITERATIONS`] times.
//! Their syntax and variables (`forloop.index`, `limit:`, `offset:`,
//! `reversed`, `else`, `break`, `continue`, `tablerow`'s `cols:`) are
//! liquid-lib's.

use std::collections::HashMap;
use std::io::Write;

use liquid_core::error::ResultLiquidExt;
use liquid_core::model::{KString, KStringRef, Object, Value, ValueCow, ValueView};
use liquid_core::parser::{BlockElement, TryMatchToken};
use liquid_core::runtime::{Interrupt, InterruptRegister, StackFrame};
use liquid_core::{
    BlockReflection, Error as LiquidError, Expression, Language, ParseBlock, Renderable, Result,
    Runtime, TagBlock, TagTokenIter, Template,
};
use liquid_lib::stdlib::RangeExpression;

use crate::budget::{budget, Metered};

/// What a loop walks: a counted range, or the items of an array (or an
/// object's `[key, value]` pairs).
enum Items<'a> {
    /// `first`, then each next value `step` (±1) on, `count` of them;
    /// 128-bit so no range of 64-bit ends can overflow.
    Counted {
        first: i128,
        count: u64,
        step: i128,
    },
    Values(Vec<ValueCow<'a>>),
}

impl Items<'_> {
    fn len(&self) -> u64 {
        match self {
            Items::Counted { count, .. } => *count,
            Items::Values(v) => v.len() as u64,
        }
    }

    fn get(&self, i: u64) -> ValueCow<'_> {
        match self {
            Items::Counted { first, step, .. } => {
                // Within the range's ends, so it fits an i64.
                ValueCow::Owned(Value::scalar((first + step * i128::from(i)) as i64))
            }
            Items::Values(v) => ValueCow::Borrowed(v[i as usize].as_view()),
        }
    }
}

fn whole(e: &Expression, runtime: &dyn Runtime, what: &str) -> Result<i64> {
    let v = e.evaluate(runtime)?;
    v.as_scalar()
        .and_then(|s| s.to_integer())
        .ok_or_else(|| LiquidError::with_msg(format!("the loop's {what} must be a whole number")))
}

fn attribute(e: &Option<Expression>, runtime: &dyn Runtime, what: &str) -> Result<Option<u64>> {
    e.as_ref()
        .map(|e| whole(e, runtime, what).map(|n| n.max(0) as u64))
        .transpose()
}

/// The items of `range` after `offset`, `limit` and `reversed`.
fn items<'r>(
    range: &'r RangeExpression,
    runtime: &'r dyn Runtime,
    limit: Option<u64>,
    offset: u64,
    reversed: bool,
) -> Result<Items<'r>> {
    match range {
        RangeExpression::Counted(start, stop) => {
            let start = i128::from(whole(start, runtime, "start")?);
            let stop = i128::from(whole(stop, runtime, "end")?);
            // A full i64 range holds 2^64 values, one more than u64 counts;
            // the iteration limit stops such a loop long before.
            let total = (stop - start + 1).clamp(0, i128::from(u64::MAX)) as u64;
            let offset = offset.min(total);
            let count = limit.map_or(total - offset, |l| l.min(total - offset));
            let first = start + i128::from(offset);
            Ok(if reversed && count > 0 {
                Items::Counted {
                    first: first + i128::from(count - 1),
                    count,
                    step: -1,
                }
            } else {
                Items::Counted {
                    first,
                    count,
                    step: 1,
                }
            })
        }
        RangeExpression::Array(e) => {
            let value = e.evaluate(runtime)?;
            let mut values: Vec<ValueCow<'r>> = if let Some(a) = value.as_array() {
                a.values().map(|v| ValueCow::Owned(v.to_value())).collect()
            } else if let Some(o) = value.as_object() {
                o.iter()
                    .map(|(k, v)| {
                        ValueCow::Owned(Value::Array(vec![
                            Value::scalar(k.into_owned()),
                            v.to_value(),
                        ]))
                    })
                    .collect()
            } else if value.is_nil() || value.is_state() {
                Vec::new()
            } else {
                return Err(LiquidError::with_msg(format!(
                    "a loop needs an array or a range, not a {}",
                    value.type_name()
                )));
            };
            let offset = (offset as usize).min(values.len());
            values.drain(..offset);
            if let Some(l) = limit {
                values.truncate(l.min(usize::MAX as u64) as usize);
            }
            if reversed {
                values.reverse();
            }
            Ok(Items::Values(values))
        }
    }
}

/// `forloop`'s (and `tablerow`'s) counters for item `i` of `len`.
fn counters(i: u64, len: u64) -> Object {
    let (i, len) = (i as i64, len.min(i64::MAX as u64) as i64);
    let mut o = Object::new();
    for (k, v) in [
        ("length", len),
        ("index0", i),
        ("index", i + 1),
        ("rindex0", len - i - 1),
        ("rindex", len - i),
    ] {
        o.insert(k.into(), Value::scalar(v));
    }
    o.insert("first".into(), Value::scalar(i == 0));
    o.insert("last".into(), Value::scalar(i == len - 1));
    o
}

/// The arguments both loop tags share: `VAR in RANGE` then parameters.
struct Head {
    var: KString,
    range: RangeExpression,
    limit: Option<Expression>,
    offset: Option<Expression>,
    cols: Option<Expression>,
    reversed: bool,
}

impl Head {
    /// The items this loop walks, after `limit:` and `offset:` (reversed
    /// when asked).
    fn items<'r>(&'r self, runtime: &'r dyn Runtime, reversed: bool) -> Result<Items<'r>> {
        let limit = attribute(&self.limit, runtime, "limit")?;
        let offset = attribute(&self.offset, runtime, "offset")?.unwrap_or(0);
        items(&self.range, runtime, limit, offset, reversed)
    }

    /// Renders `body` for one item, in a frame of its own holding `name`
    /// (`forloop` or `tablerow`, bound to `counters`) and the loop's
    /// variable (bound to `item`).
    fn render_item(
        &self,
        body: &Template,
        name: &'static str,
        counters: &Object,
        item: &dyn ValueView,
        writer: &mut dyn Write,
        runtime: &dyn Runtime,
    ) -> Result<()> {
        let mut root = HashMap::<KStringRef<'_>, &dyn ValueView>::new();
        root.insert(name.into(), counters);
        root.insert(self.var.as_ref(), item);
        let scope = Metered::frame(StackFrame::new(runtime, &root), [name, &self.var]);
        body.render_to(writer, &scope)
    }
}

fn parse_head(arguments: &mut TagTokenIter<'_>, tablerow: bool) -> Result<Head> {
    let var = arguments
        .expect_next("Identifier expected.")?
        .expect_identifier()
        .into_result()?;
    let var = KString::from_ref(var);
    arguments
        .expect_next("\"in\" expected.")?
        .expect_str("in")
        .into_result_custom_msg("\"in\" expected.")?;
    let range = arguments.expect_next("Array or range expected.")?;
    let range = match range.expect_value() {
        TryMatchToken::Matches(array) => RangeExpression::Array(array),
        TryMatchToken::Fails(range) => match range.expect_range() {
            TryMatchToken::Matches((start, stop)) => RangeExpression::Counted(start, stop),
            TryMatchToken::Fails(range) => return range.raise_error().into_err(),
        },
    };
    let mut head = Head {
        var,
        range,
        limit: None,
        offset: None,
        cols: None,
        reversed: false,
    };
    while let Some(token) = arguments.next() {
        let slot = match token.as_str() {
            "limit" => &mut head.limit,
            "offset" => &mut head.offset,
            "cols" if tablerow => &mut head.cols,
            "reversed" if !tablerow => {
                head.reversed = true;
                continue;
            }
            _ => {
                let expected = if tablerow {
                    "\"cols\", \"limit\" or \"offset\" expected."
                } else {
                    "\"limit\", \"offset\" or \"reversed\" expected."
                };
                return token.raise_custom_error(expected).into_err();
            }
        };
        arguments
            .expect_next("\":\" expected.")?
            .expect_str(":")
            .into_result_custom_msg("\":\" expected.")?;
        *slot = Some(
            arguments
                .expect_next("Value expected.")?
                .expect_value()
                .into_result()?,
        );
    }
    arguments.expect_nothing()?;
    Ok(head)
}

/// `{% for VAR in RANGE [limit: N] [offset: N] [reversed] %}…[{% else %}…]{% endfor %}`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ForBlock;

impl BlockReflection for ForBlock {
    fn start_tag(&self) -> &str {
        "for"
    }
    fn end_tag(&self) -> &str {
        "endfor"
    }
    fn description(&self) -> &str {
        "Repeats its body for each item of an array or range (at most 10,000 iterations per render, all loops together)."
    }
}

impl ParseBlock for ForBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let head = parse_head(&mut arguments, false)?;
        let mut body = Vec::new();
        let mut otherwise = None;
        while let Some(element) = tokens.next()? {
            match element {
                BlockElement::Tag(mut tag) if tag.name() == "else" => {
                    tag.tokens().expect_nothing()?;
                    otherwise = Some(Template::new(tokens.parse_all(options)?));
                    break;
                }
                BlockElement::Tag(tag) => body.push(tag.parse(&mut tokens, options)?),
                element => body.push(element.parse(&mut tokens, options)?),
            }
        }
        tokens.assert_empty();
        Ok(Box::new(For {
            head,
            body: Template::new(body),
            otherwise,
        }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

struct For {
    head: Head,
    body: Template,
    otherwise: Option<Template>,
}

impl std::fmt::Debug for For {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{% for {} in {} %}}", self.head.var, self.head.range)
    }
}

impl Renderable for For {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let h = &self.head;
        let items = h.items(runtime, h.reversed)?;
        let len = items.len();
        if len == 0 {
            if let Some(t) = &self.otherwise {
                t.render_to(writer, runtime)?;
            }
            return Ok(());
        }
        let parent = runtime
            .try_get(&[liquid_core::model::ScalarCow::new("forloop")])
            .map(|v| v.to_value());
        for i in 0..len {
            budget(runtime).iterate(1)?;
            let item = items.get(i);
            let mut forloop = counters(i, len);
            if let Some(p) = &parent {
                forloop.insert("parentloop".into(), p.clone());
            }
            h.render_item(
                &self.body,
                "forloop",
                &forloop,
                item.as_view(),
                writer,
                runtime,
            )
            .context_key("index")
            .value_with(|| format!("{}", i + 1).into())?;
            // The frame's registers are the render's.
            let interrupt = runtime.registers().get_mut::<InterruptRegister>().reset();
            if let Some(Interrupt::Break) = interrupt {
                break;
            }
        }
        Ok(())
    }
}

/// `{% tablerow VAR in RANGE [cols: N] [limit: N] [offset: N] %}…{% endtablerow %}`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TableRowBlock;

impl BlockReflection for TableRowBlock {
    fn start_tag(&self) -> &str {
        "tablerow"
    }
    fn end_tag(&self) -> &str {
        "endtablerow"
    }
    fn description(&self) -> &str {
        "Renders an HTML table row by row (its iterations count toward the loop limit)."
    }
}

impl ParseBlock for TableRowBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let head = parse_head(&mut arguments, true)?;
        let body = Template::new(tokens.parse_all(options)?);
        tokens.assert_empty();
        Ok(Box::new(TableRow { head, body }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

struct TableRow {
    head: Head,
    body: Template,
}

impl std::fmt::Debug for TableRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{% tablerow {} in {} %}}",
            self.head.var, self.head.range
        )
    }
}

fn render_failed(e: std::io::Error) -> LiquidError {
    LiquidError::with_msg(format!("Failed to render: {e}"))
}

impl Renderable for TableRow {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let h = &self.head;
        let cols = attribute(&h.cols, runtime, "cols")?;
        let items = h.items(runtime, false)?;
        let len = items.len();
        let cols = cols.filter(|&c| c > 0).unwrap_or(len.max(1));
        for i in 0..len {
            budget(runtime).iterate(1)?;
            let (col, row) = (i % cols, i / cols);
            let col_first = col == 0;
            let col_last = col == cols - 1 || i == len - 1;
            let mut tablerow = counters(i, len);
            tablerow.insert("col0".into(), Value::scalar(col as i64));
            tablerow.insert("col".into(), Value::scalar(col as i64 + 1));
            tablerow.insert("col_first".into(), Value::scalar(col_first));
            tablerow.insert("col_last".into(), Value::scalar(col_last));
            if col_first {
                write!(writer, "<tr class=\"row{}\">", row + 1).map_err(render_failed)?;
            }
            write!(writer, "<td class=\"col{}\">", col + 1).map_err(render_failed)?;
            let item = items.get(i);
            h.render_item(
                &self.body,
                "tablerow",
                &tablerow,
                item.as_view(),
                writer,
                runtime,
            )?;
            write!(writer, "</td>").map_err(render_failed)?;
            if col_last {
                write!(writer, "</tr>").map_err(render_failed)?;
            }
        }
        Ok(())
    }
}
