//! The filters cohort adds (`number_with_delimiter`, `date` with an IANA
//! zone) and the wrapper that meters every filter.

use std::fmt;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use liquid_core::model::{Value, ValueView};
use liquid_core::parser::{FilterArguments, FilterReflection, ParameterReflection, ParseFilter};
use liquid_core::{Error as LiquidError, Expression, Filter, Result, Runtime};

use crate::budget::{budget, check_made, value_size};
use crate::{Limit, MAX_VALUE_BYTES};

/// The render's clock and default zone, set in the registers before a
/// render.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env {
    pub(crate) now: i64,
    pub(crate) zone: Tz,
}

impl Default for Env {
    fn default() -> Self {
        Env {
            now: 0,
            zone: chrono_tz::UTC,
        }
    }
}

/// A filter of liquid-lib wrapped so each call charges its input, the
/// value it makes is at most [`MAX_VALUE_BYTES`], and the two filters whose
/// output can be far larger than their input (`replace`, `join`) are
/// refused before they build it.
#[derive(Clone)]
pub(crate) struct Metered(pub(crate) Box<dyn ParseFilter>);

impl ParseFilter for Metered {
    fn parse(&self, mut arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let positional: Vec<Expression> = arguments.positional.by_ref().collect();
        let inner = self.0.parse(FilterArguments {
            positional: Box::new(positional.clone().into_iter()),
            keyword: arguments.keyword,
        })?;
        let name = self.0.reflection().name();
        let growth = match name {
            "replace" => Growth::Replace,
            "join" => Growth::Join,
            "uniq" => Growth::Quadratic,
            _ => Growth::Additive,
        };
        Ok(Box::new(MeteredFilter {
            inner,
            growth,
            positional,
            passes_nil: name != "default",
        }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self.0.reflection()
    }
}

#[derive(Debug, Clone, Copy)]
enum Growth {
    /// The output is at most about the input plus the arguments.
    Additive,
    /// `replace: pattern, with`: one copy of `with` per match.
    Replace,
    /// `join: glue`: one copy of `glue` between each two items.
    Join,
    /// `uniq` compares each item with those kept: its work is the square
    /// of its length.
    Quadratic,
}

#[derive(Debug)]
struct MeteredFilter {
    inner: Box<dyn Filter>,
    growth: Growth,
    positional: Vec<Expression>,
    /// A missing input stays missing (so `default` can stand in at the
    /// chain's end): true for every filter but `default`.
    passes_nil: bool,
}

impl fmt::Display for MeteredFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl MeteredFilter {
    fn text_arg(&self, i: usize, runtime: &dyn Runtime) -> Option<String> {
        let v = self.positional.get(i)?.try_evaluate(runtime)?;
        Some(v.to_kstr().as_str().to_owned())
    }

    /// The size of the value this call would make, when it can be far
    /// larger than its input.
    fn predicted(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> usize {
        match self.growth {
            Growth::Additive | Growth::Quadratic => 0,
            Growth::Replace => {
                let text = input.to_kstr();
                let pattern = self.text_arg(0, runtime).unwrap_or_default();
                let with = self.text_arg(1, runtime).unwrap_or_default();
                let matches = if pattern.is_empty() {
                    text.chars().count() + 1
                } else {
                    text.matches(pattern.as_str()).count()
                };
                (text.len() - matches * pattern.len())
                    .saturating_add(matches.saturating_mul(with.len()))
            }
            Growth::Join => {
                let Some(items) = input.as_array() else {
                    return 0;
                };
                let glue = self.text_arg(0, runtime).map_or(1, |g| g.len());
                let n = items.size().max(0) as usize;
                value_size(input).saturating_add(n.saturating_sub(1).saturating_mul(glue))
            }
        }
    }
}

impl Filter for MeteredFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        if self.passes_nil && input.is_nil() {
            return Ok(Value::Nil);
        }
        budget(runtime).charge(1 + value_size(input) as u64)?;
        if let (Growth::Quadratic, Some(items)) = (self.growth, input.as_array()) {
            let n = items.size().max(0) as u64;
            budget(runtime).charge(n.saturating_mul(n))?;
        }
        if self.predicted(input, runtime) > MAX_VALUE_BYTES {
            return Err(budget(runtime).fail(Limit::Value));
        }
        let out = self.inner.evaluate(input, runtime)?;
        check_made(runtime, &out)?;
        Ok(out)
    }
}

/// Reflection of a filter defined here.
struct Reflection {
    name: &'static str,
    description: &'static str,
    positional: &'static [ParameterReflection],
}

impl FilterReflection for Reflection {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        self.description
    }
    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        self.positional
    }
    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }
}

fn take_positional(
    name: &str,
    mut arguments: FilterArguments<'_>,
    max: usize,
) -> Result<Vec<Expression>> {
    if let Some((key, _)) = arguments.keyword.next() {
        return Err(LiquidError::with_msg(format!(
            "{name} takes no keyword argument, got {key}:"
        )));
    }
    let args: Vec<Expression> = arguments.positional.collect();
    if args.len() > max {
        return Err(LiquidError::with_msg(format!(
            "{name} takes at most {max} argument{}, got {}",
            if max == 1 { "" } else { "s" },
            args.len()
        )));
    }
    Ok(args)
}

/// `number_with_delimiter`.
#[derive(Clone)]
pub(crate) struct NumberWithDelimiter;

static NUMBER_WITH_DELIMITER: Reflection = Reflection {
    name: "number_with_delimiter",
    description: "Groups a number's digits in threes with `,`; a fraction is kept as given.",
    positional: &[],
};

impl ParseFilter for NumberWithDelimiter {
    fn parse(&self, arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        take_positional("number_with_delimiter", arguments, 0)?;
        Ok(Box::new(NumberWithDelimiterFilter))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        &NUMBER_WITH_DELIMITER
    }
}

#[derive(Debug)]
struct NumberWithDelimiterFilter;

impl fmt::Display for NumberWithDelimiterFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("number_with_delimiter")
    }
}

impl Filter for NumberWithDelimiterFilter {
    fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> Result<Value> {
        let Some(scalar) = input.as_scalar() else {
            return Ok(input.to_value());
        };
        let text = match scalar.type_name() {
            "whole number" | "fractional number" => scalar.to_kstr().into_owned(),
            "string" => scalar.to_kstr().into_owned(),
            _ => return Ok(input.to_value()),
        };
        Ok(match delimit(&text) {
            Some(grouped) => Value::scalar(grouped),
            None => input.to_value(),
        })
    }
}

/// `-1234.5` → `-1,234.5`; `None` unless the text is a plain decimal
/// number (optional `-`, digits, optional `.` and digits).
pub(crate) fn delimit(text: &str) -> Option<String> {
    let (sign, body) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (whole, fraction) = match body.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + whole.len() / 3);
    out.push_str(sign);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    Some(out)
}

/// `date: FORMAT, ZONE`.
#[derive(Clone)]
pub(crate) struct Date;

static DATE: Reflection = Reflection {
    name: "date",
    description: "Formats a time with strftime FORMAT in ZONE (an IANA name; default the subject's time zone, else UTC).",
    positional: &[
        ParameterReflection {
            name: "format",
            description: "strftime format",
            is_optional: false,
        },
        ParameterReflection {
            name: "zone",
            description: "IANA time-zone name",
            is_optional: true,
        },
    ],
};

impl ParseFilter for Date {
    fn parse(&self, arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let mut args = take_positional("date", arguments, 2)?.into_iter();
        let format = args.next().ok_or_else(|| {
            LiquidError::with_msg("date needs a format, as in date: \"%Y-%m-%d\"")
        })?;
        let zone = args.next();
        // Literal arguments are checked now, so a bad one is refused when
        // the template is checked rather than when a message is sent.
        if let Expression::Literal(f) = &format {
            strftime_items(&f.to_kstr())?;
        }
        if let Some(Expression::Literal(z)) = &zone {
            parse_zone(&z.to_kstr())?;
        }
        Ok(Box::new(DateFilter { format, zone }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        &DATE
    }
}

#[derive(Debug)]
struct DateFilter {
    format: Expression,
    zone: Option<Expression>,
}

impl fmt::Display for DateFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "date: {}", self.format)?;
        if let Some(z) = &self.zone {
            write!(f, ", {z}")?;
        }
        Ok(())
    }
}

fn strftime_items(format: &str) -> Result<Vec<Item<'_>>> {
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(LiquidError::with_msg(format!(
            "date: {format:?} is not a strftime format (see chrono's strftime specifiers)"
        )));
    }
    Ok(items)
}

fn parse_zone(zone: &str) -> Result<Tz> {
    zone.parse::<Tz>().map_err(|_| {
        LiquidError::with_msg(format!(
            "date: unknown time zone {zone:?}: use an IANA name such as \"Asia/Seoul\""
        ))
    })
}

/// The instant a `date` input stands for; `None` leaves the input as is.
fn instant(input: &dyn ValueView, env: Env) -> Option<DateTime<Utc>> {
    let scalar = input.as_scalar()?;
    let millis = match scalar.type_name() {
        "whole number" => scalar.to_integer()?,
        "fractional number" => {
            let x = scalar.to_float()?;
            if !x.is_finite() || x.abs() > 9.0e15 {
                return None;
            }
            x.trunc() as i64
        }
        "date time" => {
            let t = scalar.to_date_time()?;
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()?
        }
        "string" => {
            let text = scalar.to_kstr();
            if text.as_str() == "now" {
                env.now
            } else {
                DateTime::parse_from_rfc3339(text.as_str())
                    .ok()?
                    .timestamp_millis()
            }
        }
        _ => return None,
    };
    Utc.timestamp_millis_opt(millis).single()
}

impl Filter for DateFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        if input.is_nil() {
            return Ok(Value::Nil);
        }
        let env = *runtime.registers().get_mut::<Env>();
        let Some(t) = instant(input, env) else {
            // Liquid's convention: what is not a time is left as it is.
            return Ok(input.to_value());
        };
        let format = self.format.evaluate(runtime)?.to_kstr().into_owned();
        let zone = match &self.zone {
            Some(z) => {
                let z = z.evaluate(runtime)?;
                if z.is_nil() {
                    env.zone
                } else {
                    parse_zone(&z.to_kstr())?
                }
            }
            None => env.zone,
        };
        let items = strftime_items(&format)?;
        let mut out = String::new();
        use std::fmt::Write as _;
        write!(
            out,
            "{}",
            t.with_timezone(&zone).format_with_items(items.into_iter())
        )
        .map_err(|_| LiquidError::with_msg(format!("date: cannot format with {format:?}")))?;
        Ok(Value::scalar(out))
    }
}
