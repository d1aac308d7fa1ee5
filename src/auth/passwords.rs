//! Password hashing on a small pool of threads of its own, each with its
//! own argon2 working memory. argon2id needs 19 MiB per hash; allocating and
//! freeing that per login (on actix's blocking pool of up to 512 threads)
//! made glibc raise its mmap threshold and keep the freed memory in its
//! arenas: 100 logins held 400 MB to 1.7 GB. Here a fixed number of threads
//! (the cores, at most 4) each allocate one [`Workspace`] on first use and
//! reuse it for every hash and verification, so memory stays at threads ×
//! 19 MiB however many logins there are, and a burst of logins queues here
//! instead of taking the threads that SQLite work needs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};

use crate::domain::password::{self, Workspace};
use crate::error::AppError;

type Job = Box<dyn FnOnce(&mut Workspace) + Send>;

pub struct PasswordPool {
    jobs: mpsc::Sender<Job>,
}

/// More threads would hash faster only with more cores to run them.
const MAX_THREADS: usize = 4;

impl PasswordPool {
    /// One thread per core, at most [`MAX_THREADS`].
    pub fn for_this_machine() -> PasswordPool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        PasswordPool::new(cores.min(MAX_THREADS))
    }

    pub fn new(threads: usize) -> PasswordPool {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    // Allocated at the first job, so an idle server holds none.
                    let mut memory: Option<Workspace> = None;
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return }; // The pool was dropped.
                        let memory = memory.get_or_insert_with(Workspace::new);
                        // A panicking job loses its answer (its caller gets an
                        // error), not this thread.
                        drop(catch_unwind(AssertUnwindSafe(|| job(memory))));
                    }
                })
                .expect("the OS can start a thread");
        }
        PasswordPool { jobs }
    }

    /// Runs `work` on the pool, with the thread's argon2 working memory, and
    /// waits for its answer without blocking the async worker.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Workspace) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = answer.send(work(memory));
        });
        self.jobs.send(job).map_err(|_| AppError::internal("the password pool has stopped"))?;
        answered.await.map_err(|_| AppError::internal("password hashing failed"))
    }

    /// [`password::hash`] on the pool.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        self.run(move |memory| password::hash_in(&password, memory)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_work_on_its_own_threads_and_survives_a_panic() {
        let pool = PasswordPool::new(2);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let name = pool.run(|_| std::thread::current().name().map(str::to_owned)).await.unwrap();
            assert!(name.is_some_and(|n| n.starts_with("argon2-")));
            let panicked = pool.run(|_| -> u8 { panic!("boom") }).await;
            assert!(panicked.is_err());
            // Both threads still answer.
            for _ in 0..4 {
                assert_eq!(pool.run(|_| 2 + 2).await.unwrap(), 4);
            }
            let hash = pool.hash("a long enough passphrase".into()).await.unwrap();
            assert!(password::verify("a long enough passphrase", &hash));
        });
    }
}
