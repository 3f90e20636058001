//! The language a template is parsed with: liquid-lib's standard tags,
//! blocks and filters (wrapped to count nesting and work), this crate's
//! loops and capture, and the added filters.

use std::cell::Cell;

use liquid_core::parser::ParseFilter;
use liquid_core::{
    BlockReflection, Language, ParseBlock, Renderable, Result, TagBlock, TagTokenIter,
};
use liquid_lib::stdlib;

use crate::filters::{Date, Metered, NumberWithDelimiter};
use crate::{buffered, error, loops, Error, MAX_NESTING};

thread_local! {
    /// How deep the block being parsed on this thread is nested.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// A block parser that refuses nesting deeper than [`MAX_NESTING`]
/// (liquid parses and renders nested blocks by recursion, so an unbounded
/// depth would end in a stack overflow).
#[derive(Clone)]
struct Nested(Box<dyn ParseBlock>);

struct Leave;

impl Drop for Leave {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl ParseBlock for Nested {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        block: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        let _leave = Leave;
        if depth > MAX_NESTING {
            return Err(
                arguments.raise_error(&format!("blocks are nested more than {MAX_NESTING} deep"))
            );
        }
        self.0.parse(arguments, block, options)
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self.0.reflection()
    }
}

fn block(lang: &mut Language, b: impl Into<Box<dyn ParseBlock>>) {
    let b: Box<dyn ParseBlock> = b.into();
    let name = b.reflection().start_tag().to_owned();
    lang.blocks.register(name, Box::new(Nested(b)));
}

fn filter(lang: &mut Language, f: impl Into<Box<dyn ParseFilter>>) {
    let f: Box<dyn ParseFilter> = f.into();
    let name = f.reflection().name().to_owned();
    lang.filters.register(name, Box::new(Metered(f)));
}

/// Every tag, block and filter a template may use.
pub(crate) fn build() -> Language {
    let mut lang = Language::empty();
    for (name, tag) in [
        ("assign", stdlib::AssignTag.into()),
        ("break", stdlib::BreakTag.into()),
        ("continue", stdlib::ContinueTag.into()),
        ("cycle", stdlib::CycleTag.into()),
        ("increment", stdlib::IncrementTag.into()),
        ("decrement", stdlib::DecrementTag.into()),
    ] {
        lang.tags.register(name.to_owned(), tag);
    }
    block(&mut lang, stdlib::RawBlock);
    block(&mut lang, stdlib::IfBlock);
    block(&mut lang, stdlib::UnlessBlock);
    block(&mut lang, buffered::IfChangedBlock);
    block(&mut lang, stdlib::CommentBlock);
    block(&mut lang, stdlib::CaseBlock);
    block(&mut lang, loops::ForBlock);
    block(&mut lang, loops::TableRowBlock);
    block(&mut lang, buffered::CaptureBlock);

    let standard: Vec<Box<dyn ParseFilter>> = vec![
        stdlib::Abs.into(),
        stdlib::Append.into(),
        stdlib::AtLeast.into(),
        stdlib::AtMost.into(),
        stdlib::Capitalize.into(),
        stdlib::Ceil.into(),
        stdlib::Compact.into(),
        stdlib::Concat.into(),
        stdlib::Default.into(),
        stdlib::DividedBy.into(),
        stdlib::Downcase.into(),
        stdlib::Escape.into(),
        stdlib::EscapeOnce.into(),
        stdlib::First.into(),
        stdlib::Floor.into(),
        stdlib::Join.into(),
        stdlib::Last.into(),
        stdlib::Lstrip.into(),
        stdlib::Map.into(),
        stdlib::Minus.into(),
        stdlib::Modulo.into(),
        stdlib::NewlineToBr.into(),
        stdlib::Plus.into(),
        stdlib::Prepend.into(),
        stdlib::Remove.into(),
        stdlib::RemoveFirst.into(),
        stdlib::Replace.into(),
        stdlib::ReplaceFirst.into(),
        stdlib::Reverse.into(),
        stdlib::Round.into(),
        stdlib::Rstrip.into(),
        stdlib::Size.into(),
        stdlib::Slice.into(),
        stdlib::Sort.into(),
        stdlib::SortNatural.into(),
        stdlib::Split.into(),
        stdlib::Strip.into(),
        stdlib::StripHtml.into(),
        stdlib::StripNewlines.into(),
        stdlib::Times.into(),
        stdlib::Truncate.into(),
        stdlib::TruncateWords.into(),
        stdlib::Uniq.into(),
        stdlib::Upcase.into(),
        stdlib::UrlDecode.into(),
        stdlib::UrlEncode.into(),
        stdlib::Where.into(),
    ];
    for f in standard {
        filter(&mut lang, f);
    }
    // Liquid's `date`, replaced by one that takes an IANA zone.
    filter(&mut lang, Date);
    filter(&mut lang, NumberWithDelimiter);
    lang
}

/// Parses a template into its elements.
pub(crate) fn parse(
    text: &str,
    lang: &Language,
) -> std::result::Result<Vec<Box<dyn Renderable>>, Error> {
    DEPTH.with(|d| d.set(0));
    liquid_core::parser::parse(text, lang).map_err(|e| error::parse_error(&e, text))
}
