//! The blocks that render their body into a buffer before using it —
//! `capture` and `ifchanged` — adapted from liquid-lib's (MIT, cobalt-org):
//! the buffer refuses to grow past [`crate::MAX_VALUE_BYTES`], so a loop
//! inside one cannot build an unbounded value.

use std::io::Write;

use liquid_core::model::{KString, Value};
use liquid_core::{
    BlockReflection, Language, ParseBlock, Renderable, Result, Runtime, TagBlock, TagTokenIter,
    Template,
};

use crate::budget::{budget, check_made, LimitedWriter};
use crate::{Limit, MAX_VALUE_BYTES};

/// `{% capture VAR %}…{% endcapture %}`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CaptureBlock;

impl BlockReflection for CaptureBlock {
    fn start_tag(&self) -> &str {
        "capture"
    }
    fn end_tag(&self) -> &str {
        "endcapture"
    }
    fn description(&self) -> &str {
        "Renders its body into a variable (at most 1 MiB)."
    }
}

impl ParseBlock for CaptureBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let id = arguments
            .expect_next("Identifier expected")?
            .expect_identifier()
            .into_result()?;
        let id = KString::from_ref(id);
        arguments.expect_nothing()?;
        let template = Template::new(tokens.parse_all(options)?);
        tokens.assert_empty();
        Ok(Box::new(Capture { id, template }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct Capture {
    id: KString,
    template: Template,
}

/// Renders `template` into a bounded buffer.
fn render_bounded(template: &Template, runtime: &dyn Runtime) -> Result<String> {
    let mut buffer = LimitedWriter::new(MAX_VALUE_BYTES);
    let rendered = template.render_to(&mut buffer, runtime);
    if buffer.overflowed() {
        return Err(budget(runtime).fail(Limit::Value));
    }
    rendered?;
    Ok(buffer.into_string())
}

impl Renderable for Capture {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let value = Value::scalar(render_bounded(&self.template, runtime)?);
        check_made(runtime, &value)?;
        runtime.set_global(self.id.clone(), value);
        Ok(())
    }
}

/// `{% ifchanged %}…{% endifchanged %}`: writes its body when it differs
/// from what it rendered last time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IfChangedBlock;

impl BlockReflection for IfChangedBlock {
    fn start_tag(&self) -> &str {
        "ifchanged"
    }
    fn end_tag(&self) -> &str {
        "endifchanged"
    }
    fn description(&self) -> &str {
        "Writes its body only when it differs from the last time (at most 1 MiB)."
    }
}

impl ParseBlock for IfChangedBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        arguments.expect_nothing()?;
        let template = Template::new(tokens.parse_all(options)?);
        tokens.assert_empty();
        Ok(Box::new(IfChanged { template }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct IfChanged {
    template: Template,
}

/// What `ifchanged` rendered last, per render.
#[derive(Debug, Default)]
struct LastRendered(Option<String>);

impl Renderable for IfChanged {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let rendered = render_bounded(&self.template, runtime)?;
        let changed = {
            let mut last = runtime.registers().get_mut::<LastRendered>();
            let changed = last.0.as_deref() != Some(rendered.as_str());
            last.0 = Some(rendered.clone());
            changed
        };
        if changed {
            writer
                .write_all(rendered.as_bytes())
                .map_err(|e| liquid_core::Error::with_msg(format!("Failed to render: {e}")))?;
        }
        Ok(())
    }
}
