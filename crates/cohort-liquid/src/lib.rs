//! Personalisation: Liquid templates rendered over one subject's data.
//!
//! This crate owns the template half of `../spec/personalization.md`
//! (`docs/personalization.md` in this repository): which variables a
//! template sees ([`Context`]), the added filters (`number_with_delimiter`,
//! `date` with an IANA zone) and the limits that keep a hostile template
//! from running away. It does no I/O: the application layer reads the
//! subject's profile and entry event from the store and hands them in.
//!
//! The engine is `liquid-core` and `liquid-lib` (cobalt-org's liquid-rust)
//! with all of Liquid's standard filters and tags, except:
//!
//! - `include` and `render` are not offered: cohort stores no partial
//!   templates, and a template naming one would fail only when sent;
//! - `for`, `tablerow`, `capture` and `ifchanged` are this crate's own
//!   (adapted from liquid-lib's), because liquid-lib's materialise a whole
//!   counted range before the first iteration, or buffer a body without
//!   bound;
//! - every other block and filter is liquid-lib's, wrapped to count nesting
//!   depth, work and value sizes.
//!
//! A variable that is missing renders as nothing (Liquid's lax mode), so
//! `default` can stand in for it, also at the end of a chain.
//!
//! ```
//! use cohort_liquid::{Context, Template};
//!
//! let template = Template::parse("Hello, {{ name | default: \"customer\" }}!").unwrap();
//! let context = Context::default();
//! assert_eq!(template.render(&context).unwrap(), "Hello, customer!");
//! ```

mod budget;
mod buffered;
mod context;
mod error;
mod filters;
mod language;
mod loops;
mod ordered;

pub use context::{Context, EntryEvent, Subject};
pub use error::{Error, Limit};

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use liquid_core::runtime::RuntimeBuilder;
use liquid_core::{Language, Renderable, Runtime};

/// A template is at most this many bytes (64 KiB).
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;
/// A rendered message is at most this many bytes (1 MiB).
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// A value made while rendering (by a filter or `capture`) is at most this
/// many bytes (1 MiB), counting a string's bytes and one per array or
/// object entry.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// All the loops of one render together run at most this many iterations
/// (a nested loop's iterations each count).
pub const MAX_LOOP_ITERATIONS: u64 = 10_000;
/// Blocks (`if`, `for`, `case`, …) nest at most this deep.
pub const MAX_NESTING: usize = 64;
/// The work one render may do, in units: each byte a filter reads or
/// makes, each byte of a variable read, each loop iteration and each filter
/// call is one unit, and `uniq` costs the square of its length (64 Mi
/// units is well under a second on the benchmark machine).
pub const MAX_WORK_UNITS: u64 = 64 * 1024 * 1024;

/// The stack parsing and rendering run on. liquid recurses once per level
/// of a nested expression; a 64 KiB template can nest some 30,000 levels,
/// which needs far more than a thread's default stack. The memory is
/// reserved, not committed: only the pages a deep template touches are used.
const STACK_BYTES: usize = 256 << 20;

/// Runs `f` on its own large stack, turning a panic inside liquid (it has
/// a few on hostile input: an integer literal past i64, `modulo: -1` of
/// the smallest integer, an empty `cycle` group) into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    stacker::grow(STACK_BYTES, || match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let reason = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".to_owned());
            Err(Error::Engine { reason })
        }
    })
}

/// A checked template, ready to render any number of times.
#[derive(Debug)]
pub struct Template {
    inner: liquid_core::Template,
}

fn language() -> &'static Language {
    static LANGUAGE: OnceLock<Language> = OnceLock::new();
    LANGUAGE.get_or_init(language::build)
}

impl Template {
    /// Checks and compiles a template: at most [`MAX_TEMPLATE_BYTES`], every
    /// tag and filter known, arguments of the right kind, literal `date`
    /// zones and formats valid, blocks at most [`MAX_NESTING`] deep.
    pub fn parse(text: &str) -> Result<Template, Error> {
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(Error::TemplateTooLarge {
                bytes: text.len(),
                limit: MAX_TEMPLATE_BYTES,
            });
        }
        let elements = guarded(|| language::parse(text, language()))?;
        Ok(Template {
            inner: liquid_core::Template::new(elements),
        })
    }

    /// Renders the template over a subject's data.
    ///
    /// Fails when a limit is passed (the error names which) or a filter
    /// refuses its input (`divided_by: 0`); a failed render has no output.
    pub fn render(&self, context: &Context) -> Result<String, Error> {
        guarded(|| self.render_here(context))
    }

    fn render_here(&self, context: &Context) -> Result<String, Error> {
        let globals = context.to_object();
        let core = RuntimeBuilder::new().set_globals(&globals).build();
        let runtime = budget::Metered::new(core);
        *runtime.registers().get_mut::<filters::Env>() = filters::Env {
            now: context.now,
            zone: context.time_zone(),
        };
        let mut out = budget::LimitedWriter::new(MAX_OUTPUT_BYTES);
        let rendered = self.inner.render_to(&mut out, &runtime);
        let exceeded = budget::exceeded(&runtime);
        match (rendered, exceeded) {
            (_, Some(limit)) => Err(Error::Limit(limit)),
            (Err(_), None) if out.overflowed() => Err(Error::Limit(Limit::Output)),
            (Err(e), None) => Err(Error::Render {
                reason: error::reason(&e),
            }),
            (Ok(()), None) => Ok(out.into_string()),
        }
    }
}

#[cfg(test)]
mod tests;
