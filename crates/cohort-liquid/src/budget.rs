//! The limits of one render, kept in the runtime's registers so every
//! filter, loop and variable read charges the same budget; the root
//! runtime that reads missing variables as nil; the output writer with a
//! size limit.

use std::io::{self, Write};

use liquid_core::model::{KString, KStringCow, KStringRef, ScalarCow, Value, ValueCow, ValueView};
use liquid_core::runtime::{PartialStore, Registers};
use liquid_core::{Error as LiquidError, Runtime};

use crate::{Limit, MAX_LOOP_ITERATIONS, MAX_VALUE_BYTES, MAX_WORK_UNITS};

/// What one render has spent, and the first limit it passed.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    work: u64,
    iterations: u64,
    exceeded: Option<Limit>,
}

impl Budget {
    /// Records `limit` as passed and returns the error that stops the
    /// render.
    pub(crate) fn fail(&mut self, limit: Limit) -> LiquidError {
        // The first limit passed is the one reported, even if the error
        // raised for it is later wrapped or replaced by liquid's own.
        self.exceeded.get_or_insert(limit);
        LiquidError::with_msg(limit.to_string())
    }

    /// Charges `units` of work.
    pub(crate) fn charge(&mut self, units: u64) -> Result<(), LiquidError> {
        self.work = self.work.saturating_add(units);
        if self.work > MAX_WORK_UNITS || self.exceeded.is_some() {
            return Err(self.fail(Limit::Work));
        }
        Ok(())
    }

    /// Reserves `n` loop iterations (and a unit of work for each).
    pub(crate) fn iterate(&mut self, n: u64) -> Result<(), LiquidError> {
        self.iterations = self.iterations.saturating_add(n);
        if self.iterations > MAX_LOOP_ITERATIONS {
            return Err(self.fail(Limit::Iterations));
        }
        self.charge(n)
    }

    /// Refuses a value larger than [`MAX_VALUE_BYTES`].
    pub(crate) fn check_value(&mut self, size: usize) -> Result<(), LiquidError> {
        if size > MAX_VALUE_BYTES {
            return Err(self.fail(Limit::Value));
        }
        Ok(())
    }
}

/// The budget of the render `runtime` belongs to.
pub(crate) fn budget(runtime: &dyn Runtime) -> std::cell::RefMut<'_, Budget> {
    runtime.registers().get_mut::<Budget>()
}

/// The limit a render passed, if any.
pub(crate) fn exceeded(runtime: &dyn Runtime) -> Option<Limit> {
    budget(runtime).exceeded
}

/// A value's size for the limits: a scalar's text length, one per array or
/// object entry plus the entries' sizes. Nesting past 32 levels (which
/// liquid values do not reach in practice) counts one per level.
pub(crate) fn value_size(value: &dyn ValueView) -> usize {
    fn size(value: &dyn ValueView, depth: usize) -> usize {
        if depth > 32 {
            return 1;
        }
        if let Some(s) = value.as_scalar() {
            return s.to_kstr().len();
        }
        if let Some(a) = value.as_array() {
            return a.values().map(|v| 1 + size(v, depth + 1)).sum();
        }
        if let Some(o) = value.as_object() {
            return o
                .iter()
                .map(|(k, v)| 1 + k.len() + size(v, depth + 1))
                .sum();
        }
        0
    }
    size(value, 0)
}

/// A runtime that reads a missing variable as nil (the spec's "a missing
/// variable renders as nothing") and charges each read its value's size.
/// It wraps the root runtime and every loop's frame; a frame charges only
/// the reads of its own names (a read it passes to its parent is charged
/// there), so a read is charged once however deep the loops.
pub(crate) struct Metered<'n, R> {
    inner: R,
    /// The names a loop frame holds; `None` for the root, which holds all.
    own: Option<[&'n str; 2]>,
}

impl<R: Runtime> Metered<'static, R> {
    pub(crate) fn new(inner: R) -> Self {
        Metered { inner, own: None }
    }
}

impl<'n, R: Runtime> Metered<'n, R> {
    /// A loop frame holding `own` (`forloop` and the loop's variable).
    pub(crate) fn frame(inner: R, own: [&'n str; 2]) -> Self {
        Metered {
            inner,
            own: Some(own),
        }
    }

    fn charge_read(
        &self,
        path: &[ScalarCow<'_>],
        value: Option<&ValueCow<'_>>,
    ) -> Result<(), LiquidError> {
        if let (Some(own), Some(first)) = (self.own, path.first()) {
            if !own.contains(&first.to_kstr().as_str()) {
                return Ok(());
            }
        }
        let units = 1 + value.map_or(0, |v| value_size(v.as_view()) as u64);
        budget(&self.inner).charge(units)
    }
}

impl<R: Runtime> Runtime for Metered<'_, R> {
    fn partials(&self) -> &dyn PartialStore {
        self.inner.partials()
    }

    fn name(&self) -> Option<KStringRef<'_>> {
        self.inner.name()
    }

    fn roots(&self) -> std::collections::BTreeSet<KStringCow<'_>> {
        self.inner.roots()
    }

    fn try_get(&self, path: &[ScalarCow<'_>]) -> Option<ValueCow<'_>> {
        let value = self.inner.try_get(path);
        // `try_get` cannot fail: a passed limit is recorded and raised by
        // the next filter, loop iteration or read through `get`.
        let _ = self.charge_read(path, value.as_ref());
        value
    }

    fn get(&self, path: &[ScalarCow<'_>]) -> liquid_core::Result<ValueCow<'_>> {
        let value = self.inner.try_get(path);
        self.charge_read(path, value.as_ref())?;
        Ok(value.unwrap_or(ValueCow::Owned(Value::Nil)))
    }

    fn set_global(&self, name: KString, val: Value) -> Option<Value> {
        self.inner.set_global(name, val)
    }

    fn set_index(&self, name: KString, val: Value) -> Option<Value> {
        self.inner.set_index(name, val)
    }

    fn get_index<'a>(&'a self, name: &str) -> Option<ValueCow<'a>> {
        self.inner.get_index(name)
    }

    fn registers(&self) -> &Registers {
        self.inner.registers()
    }
}

/// An output buffer that refuses to grow past a limit.
pub(crate) struct LimitedWriter {
    buf: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl LimitedWriter {
    pub(crate) fn new(limit: usize) -> Self {
        LimitedWriter {
            buf: Vec::new(),
            limit,
            overflowed: false,
        }
    }

    /// Whether a write was refused.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// The bytes written: liquid writes only whole UTF-8 strings, and a
    /// refused write leaves nothing behind, so this is valid UTF-8.
    pub(crate) fn into_string(self) -> String {
        String::from_utf8(self.buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl Write for LimitedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            self.overflowed = true;
            return Err(io::Error::other(Limit::Output.to_string()));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether a value's size is within [`MAX_VALUE_BYTES`], charging the
/// budget for it; used on every filter's output and every capture.
pub(crate) fn check_made(runtime: &dyn Runtime, value: &dyn ValueView) -> Result<(), LiquidError> {
    let size = value_size(value);
    let mut b = budget(runtime);
    b.check_value(size)?;
    b.charge(size as u64)
}
