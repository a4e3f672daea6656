//! A task that answers requests in batches: callers queue a request and wait; the task takes
//! every request waiting (at most its batch size) and answers them all with one piece of work,
//! typically one statement. Under load, many requests share one round trip and one statement's
//! fixed cost; alone, a request is answered at once (a batch of one), with no waiting for
//! company.

use anyhow::{anyhow, Result};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Requests waiting for the task before callers wait too.
const QUEUE: usize = 1024;

type Job<Q, A> = (Q, oneshot::Sender<Result<A>>);

/// The handle of a batching task; it ends when every handle is dropped.
pub struct Batcher<Q, A> {
    jobs: mpsc::Sender<Job<Q, A>>,
    name: &'static str,
}

impl<Q, A> Clone for Batcher<Q, A> {
    fn clone(&self) -> Self {
        Batcher {
            jobs: self.jobs.clone(),
            name: self.name,
        }
    }
}

impl<Q: Send + 'static, A: Send + 'static> Batcher<Q, A> {
    /// Starts the task on the current runtime. `work` answers a batch: one answer per
    /// request, in order. At most `in_flight` batches are worked on at once; requests that
    /// come meanwhile wait and form the next batch. `name` names the task in errors.
    pub fn spawn<F, Fut>(
        name: &'static str,
        max_batch: usize,
        in_flight: usize,
        work: F,
    ) -> Batcher<Q, A>
    where
        F: Fn(Vec<Q>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<A>>> + Send + 'static,
    {
        let (jobs, mut queue) = mpsc::channel::<Job<Q, A>>(QUEUE);
        let work = Arc::new(work);
        let slots = Arc::new(Semaphore::new(in_flight.max(1)));
        tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let mut batch = Vec::with_capacity(max_batch);
                if queue.recv_many(&mut batch, max_batch).await == 0 {
                    return;
                }
                let work = work.clone();
                tokio::spawn(async move {
                    let (requests, replies): (Vec<Q>, Vec<_>) = batch.into_iter().unzip();
                    let n = replies.len();
                    let mut answers = work(requests).await.into_iter();
                    drop(slot);
                    for reply in replies {
                        let answer = answers
                            .next()
                            .unwrap_or_else(|| Err(anyhow!("{name}: {n} requests, fewer answers")));
                        // The caller may have gone (its client disconnected); the work stands.
                        let _ = reply.send(answer);
                    }
                });
            }
        });
        Batcher { jobs, name }
    }

    /// Queues `request` and waits for its answer. Each batch is worked on in a task of its
    /// own: if that panics, its requests fail and the next batches are answered as usual.
    pub async fn call(&self, request: Q) -> Result<A> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((request, reply))
            .await
            .map_err(|_| anyhow!("the {} task has stopped", self.name))?;
        answer
            .await
            .map_err(|_| anyhow!("{}: the batch failed (see the server log)", self.name))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn answers_each_request_and_batches_the_waiting_ones() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let doubler = Batcher::spawn("doubler", 4, 1, move |qs: Vec<i32>| {
            seen.lock().expect("lock").push(qs.len());
            async move {
                // Slow enough that the other callers queue meanwhile.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                qs.into_iter().map(|q| Ok(q * 2)).collect()
            }
        });
        let calls: Vec<_> = (0..9)
            .map(|i| {
                let d = doubler.clone();
                tokio::spawn(async move { d.call(i).await.expect("answer") })
            })
            .collect();
        let mut answers = Vec::new();
        for c in calls {
            answers.push(c.await.expect("caller"));
        }
        assert_eq!(answers, (0..9).map(|i| i * 2).collect::<Vec<_>>());
        let sizes = sizes.lock().expect("lock").clone();
        assert_eq!(sizes.iter().sum::<usize>(), 9);
        assert!(sizes.iter().all(|&n| n <= 4), "batches {sizes:?}");
        assert!(
            sizes.len() <= 4,
            "9 waiting requests took {} batches",
            sizes.len()
        );
    }

    #[tokio::test]
    async fn a_batch_that_panics_fails_its_requests_and_no_others() {
        let picky = Batcher::spawn("picky", 8, 1, |qs: Vec<i32>| async move {
            assert!(!qs.contains(&13), "13 is refused by panicking");
            qs.into_iter().map(Ok).collect()
        });
        let e = picky.call(13).await.expect_err("a panicked batch");
        assert!(format!("{e}").contains("picky: the batch failed"), "{e}");
        assert_eq!(picky.call(7).await.expect("the next batch"), 7);
    }

    #[tokio::test]
    async fn a_missing_answer_is_an_error_not_a_hang() {
        let short: Batcher<i32, i32> =
            Batcher::spawn("short", 8, 1, |_qs: Vec<i32>| async { Vec::new() });
        let e = short.call(1).await.expect_err("no answer");
        assert!(format!("{e}").contains("fewer answers"), "{e}");
    }
}
