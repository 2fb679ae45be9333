//! A server every invocation shares, each of those using it at a moment getting a share of it in proportion
//! to its weight (processor sharing): the link to the endpoint (TCP connections share its bandwidth), and an
//! emulator that serves every request with one interpreter (moto), where each request in flight gets an
//! equal share — an invocation with 32 downloads in flight weighs 32, an upload 1 — and concurrent invocations
//! slow each other down.

/// Work in progress on a shared server.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    /// Work done per second (bytes per second for a link, seconds of service per second for a server).
    capacity: f64,
    jobs: Vec<Job>,
    updated: f64,
    /// Changes with every job added, removed or finished, so a completion computed before is recognised as
    /// stale.
    generation: u32,
}

/// Who a job is for, how much of it is left, and its weight (the requests it has in flight).
#[derive(Debug, Clone)]
struct Job {
    owner: u32,
    left: f64,
    weight: f64,
}

impl Shared {
    pub(crate) fn new(capacity: f64) -> Shared {
        Shared {
            capacity,
            jobs: Vec::new(),
            updated: 0.0,
            generation: 0,
        }
    }

    /// Brings every job's remaining work up to `now`.
    fn advance(&mut self, now: f64) {
        if !self.jobs.is_empty() {
            let per_weight = (now - self.updated).max(0.0) * self.capacity / self.weight();
            for job in &mut self.jobs {
                job.left -= per_weight * job.weight;
            }
        }
        self.updated = now;
    }

    fn weight(&self) -> f64 {
        self.jobs.iter().map(|j| j.weight).sum()
    }

    /// When the next job finishes if nothing changes, and the generation that holds for.
    pub(crate) fn next(&self) -> Option<(f64, u32)> {
        let least = self
            .jobs
            .iter()
            .map(|j| j.left.max(0.0) / j.weight)
            .fold(f64::INFINITY, f64::min);
        least.is_finite().then(|| {
            (
                self.updated + least * self.weight() / self.capacity,
                self.generation,
            )
        })
    }

    /// Adds `work` for `owner`, weighing `weight` (at least 1).
    pub(crate) fn add(
        &mut self,
        now: f64,
        owner: u32,
        work: f64,
        weight: f64,
    ) -> Option<(f64, u32)> {
        self.advance(now);
        self.jobs.push(Job {
            owner,
            left: work,
            weight: weight.max(1.0),
        });
        self.generation += 1;
        self.next()
    }

    /// Drops poller `p`'s job, if it has one (its invocation ended).
    pub(crate) fn remove(&mut self, now: f64, p: u32) -> Option<(f64, u32)> {
        self.advance(now);
        let before = self.jobs.len();
        self.jobs.retain(|j| j.owner != p);
        if self.jobs.len() != before {
            self.generation += 1;
        }
        self.next()
    }

    /// The jobs finished by `now`, if `generation` is still current; `None` for a stale completion.
    pub(crate) fn finish(&mut self, now: f64, generation: u32) -> Option<Vec<u32>> {
        if generation != self.generation {
            return None;
        }
        self.advance(now);
        // A job's last fraction may be left over by rounding: what is within a microsecond of done is done.
        let tolerance = self.capacity * 1e-6;
        let done: Vec<u32> = self
            .jobs
            .iter()
            .filter(|j| j.left <= tolerance)
            .map(|j| j.owner)
            .collect();
        self.jobs.retain(|j| j.left > tolerance);
        self.generation += 1;
        Some(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_share_the_capacity_equally() {
        let mut s = Shared::new(10.0);
        // Alone, 10 units take 1 s.
        assert_eq!(s.add(0.0, 1, 10.0, 1.0).map(|n| n.0), Some(1.0));
        // A second job at 0.5 s: the first has 5 left, both go at 5 a second, the first finishes at 1.5 s.
        let (at, generation) = s.add(0.5, 2, 10.0, 1.0).expect("a job");
        assert!((at - 1.5).abs() < 1e-9, "{at}");
        assert_eq!(s.finish(at, generation), Some(vec![1]));
        // The second had 5 done by then and finishes alone at 2.0 s.
        let (at, generation) = s.next().expect("a job");
        assert!((at - 2.0).abs() < 1e-9, "{at}");
        assert_eq!(s.finish(at, generation - 1), None, "a stale completion");
        assert_eq!(s.finish(at, generation), Some(vec![2]));
        assert_eq!(s.next(), None);
    }

    #[test]
    fn a_removed_job_frees_its_share() {
        let mut s = Shared::new(1.0);
        s.add(0.0, 1, 4.0, 1.0);
        s.add(0.0, 2, 4.0, 1.0);
        let (at, _) = s.remove(2.0, 2).expect("one left");
        // Half done at 2 s, alone for the rest.
        assert!((at - 5.0).abs() < 1e-9, "{at}");
    }

    #[test]
    fn a_job_s_share_is_in_proportion_to_its_weight() {
        let mut s = Shared::new(1.0);
        // 32 requests in flight against one: the heavy job gets 32/33 of the server.
        s.add(0.0, 1, 32.0, 32.0);
        let (at, generation) = s.add(0.0, 2, 1.0, 1.0).expect("jobs");
        assert!((at - 33.0).abs() < 1e-9, "{at}");
        assert_eq!(s.finish(at, generation), Some(vec![1, 2]));
    }
}
