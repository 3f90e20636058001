//! Where scans run: on the calling thread, or on a given rayon pool.
//!
//! The evaluator never reaches for rayon's global pool: a service that
//! embeds cohort decides which threads evaluations use (and can keep them
//! apart from its own), a CLI decides how many. Both executors give the
//! same answers: every accumulator merges by operations whose result does
//! not depend on order (sums are exact, see `exact.rs`).

use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

/// Where an evaluation's scans run.
#[derive(Clone, Default)]
pub enum Executor {
    /// On the calling thread only (readable traces; the reference for
    /// parallel = sequential tests).
    #[default]
    SingleThread,
    /// On a rayon thread pool.
    Pool(Arc<rayon::ThreadPool>),
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Executor::SingleThread => f.write_str("SingleThread"),
            Executor::Pool(p) => write!(f, "Pool({} threads)", p.current_num_threads()),
        }
    }
}

impl Executor {
    /// The calling thread only.
    pub fn single_thread() -> Executor {
        Executor::SingleThread
    }

    /// A new pool of `threads` threads named `cohort-eval-N`.
    pub fn with_threads(threads: usize) -> Result<Executor, rayon::ThreadPoolBuildError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("cohort-eval-{i}"))
            .build()?;
        Ok(Executor::Pool(Arc::new(pool)))
    }

    /// A pool the caller built.
    pub fn from_pool(pool: Arc<rayon::ThreadPool>) -> Executor {
        Executor::Pool(pool)
    }

    /// One shared pool with a thread per core, made on first use.
    pub fn shared() -> Executor {
        static SHARED: OnceLock<Executor> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                Executor::with_threads(threads).unwrap_or(Executor::SingleThread)
            })
            .clone()
    }

    /// How many threads scans are split across.
    pub fn threads(&self) -> usize {
        match self {
            Executor::SingleThread => 1,
            Executor::Pool(p) => p.current_num_threads().max(1),
        }
    }

    /// `f` of every item, results in the items' order.
    pub(crate) fn map<T: Send, R: Send>(
        &self,
        items: Vec<T>,
        f: impl Fn(T) -> R + Sync + Send,
    ) -> Vec<R> {
        match self {
            Executor::SingleThread => items.into_iter().map(f).collect(),
            Executor::Pool(p) if items.len() > 1 => {
                p.install(|| items.into_par_iter().map(f).collect())
            }
            Executor::Pool(_) => items.into_iter().map(f).collect(),
        }
    }
}
