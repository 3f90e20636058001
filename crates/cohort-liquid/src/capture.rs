//! `capture`, adapted from liquid-lib's (MIT, cobalt-org): the body renders
//! into a buffer that refuses to grow past [`crate::MAX_VALUE_BYTES`], so a
//! loop inside a capture cannot build an unbounded value.

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

impl Renderable for Capture {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let mut captured = LimitedWriter::new(MAX_VALUE_BYTES);
        let rendered = self.template.render_to(&mut captured, runtime);
        if captured.overflowed() {
            return Err(budget(runtime).fail(Limit::Value));
        }
        rendered?;
        let value = Value::scalar(captured.into_string());
        check_made(runtime, &value)?;
        runtime.set_global(self.id.clone(), value);
        Ok(())
    }
}
