//! Group commit: jobs that arrive while one commit runs wait in a queue,
//! and the next committer takes the whole queue into one transaction (one
//! fsync for all of them). Every backend commits deposits this way.

use std::sync::{Arc, Mutex};

use super::StorageError;

/// One job in the queue, and its outcome once committed.
struct Slot<J, O> {
    job: J,
    outcome: Mutex<Option<Result<O, StorageError>>>,
}

/// A queue of jobs and the lane one committer at a time holds.
pub(super) struct GroupCommit<J, O> {
    queue: Mutex<Vec<Arc<Slot<J, O>>>>,
    lane: Mutex<()>,
    max: usize,
}

fn poisoned(what: &str) -> StorageError {
    StorageError::Db(format!("{what} poisoned"))
}

impl<J: Clone, O> GroupCommit<J, O> {
    /// A queue whose groups hold at most `max` jobs.
    pub(super) fn new(max: usize) -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            lane: Mutex::new(()),
            max: max.max(1),
        }
    }

    /// Queues `job` and returns its outcome. Whoever holds the lane commits
    /// what is queued with `commit` (one outcome per job, in order); an
    /// outcome is handed out only after its group's commit returned, so no
    /// answer leaves before its job is durable.
    pub(super) fn submit(
        &self,
        job: J,
        mut commit: impl FnMut(&[J]) -> Vec<Result<O, StorageError>>,
    ) -> Result<O, StorageError> {
        let slot = Arc::new(Slot {
            job,
            outcome: Mutex::new(None),
        });
        self.queue
            .lock()
            .map_err(|_| poisoned("commit queue"))?
            .push(slot.clone());
        let _lane = self.lane.lock().map_err(|_| poisoned("commit lane"))?;
        // Our slot was queued before we took the lane and the queue drains
        // in order, so each round brings it closer.
        loop {
            if let Some(done) = slot
                .outcome
                .lock()
                .map_err(|_| poisoned("commit slot"))?
                .take()
            {
                return done;
            }
            let batch: Vec<Arc<Slot<J, O>>> = {
                let mut q = self.queue.lock().map_err(|_| poisoned("commit queue"))?;
                let n = q.len().min(self.max);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                return Err(StorageError::Db(
                    "a job was lost in the commit queue".into(),
                ));
            }
            let jobs: Vec<J> = batch.iter().map(|s| s.job.clone()).collect();
            let mut outcomes = commit(&jobs).into_iter();
            for s in &batch {
                let o = outcomes.next().unwrap_or_else(|| {
                    Err(StorageError::Db("a group commit lost an outcome".into()))
                });
                if let Ok(mut g) = s.outcome.lock() {
                    *g = Some(o);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_gets_its_own_outcome_and_groups_form_under_load() {
        let g = Arc::new(GroupCommit::<u32, u32>::new(8));
        let groups = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..32u32)
            .map(|i| {
                let (g, groups) = (g.clone(), groups.clone());
                std::thread::spawn(move || {
                    g.submit(i, |jobs| {
                        groups.lock().unwrap().push(jobs.len());
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        jobs.iter()
                            .map(|j| {
                                if j % 5 == 0 {
                                    Err(StorageError::Overflow)
                                } else {
                                    Ok(j * 2)
                                }
                            })
                            .collect()
                    })
                })
            })
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            let got = t.join().unwrap();
            if i % 5 == 0 {
                assert!(
                    matches!(got, Err(StorageError::Overflow)),
                    "job {i}: {got:?}"
                );
            } else {
                assert_eq!(got.unwrap(), i as u32 * 2);
            }
        }
        let groups = groups.lock().unwrap();
        assert_eq!(groups.iter().sum::<usize>(), 32, "each job committed once");
        assert!(
            groups.iter().all(|&n| n <= 8),
            "no group over the cap: {groups:?}"
        );
        assert!(
            groups.len() < 32,
            "jobs that waited shared a commit: {groups:?}"
        );
    }

    #[test]
    fn a_commit_that_returns_too_few_outcomes_fails_the_rest() {
        let g = GroupCommit::<u32, u32>::new(4);
        let got = g.submit(1, |_| Vec::new());
        assert!(matches!(got, Err(StorageError::Db(_))), "{got:?}");
    }
}
