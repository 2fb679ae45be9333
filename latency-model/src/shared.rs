//! A server every invocation shares, each of those using it at a moment getting an equal share of it
//! (processor sharing): the link to the endpoint (TCP connections share its bandwidth), and an emulator that
//! serves every request with one interpreter (moto), where concurrent invocations slow each other down.

/// Work in progress on a shared server: who (an invocation's poller) and how much is left.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    /// Work done per second (bytes per second for a link, seconds of service per second for a server).
    capacity: f64,
    jobs: Vec<(u32, f64)>,
    updated: f64,
    /// Changes with every job added, removed or finished, so a completion computed before is recognised as
    /// stale.
    generation: u32,
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
            let done = (now - self.updated).max(0.0) * self.capacity / self.jobs.len() as f64;
            for job in &mut self.jobs {
                job.1 -= done;
            }
        }
        self.updated = now;
    }

    /// When the next job finishes if nothing changes, and the generation that holds for.
    pub(crate) fn next(&self) -> Option<(f64, u32)> {
        let least = self.jobs.iter().map(|j| j.1).fold(f64::INFINITY, f64::min);
        least.is_finite().then(|| {
            (
                self.updated + least.max(0.0) * self.jobs.len() as f64 / self.capacity,
                self.generation,
            )
        })
    }

    /// Adds `work` for poller `p`.
    pub(crate) fn add(&mut self, now: f64, p: u32, work: f64) -> Option<(f64, u32)> {
        self.advance(now);
        self.jobs.push((p, work));
        self.generation += 1;
        self.next()
    }

    /// Drops poller `p`'s job, if it has one (its invocation ended).
    pub(crate) fn remove(&mut self, now: f64, p: u32) -> Option<(f64, u32)> {
        self.advance(now);
        let before = self.jobs.len();
        self.jobs.retain(|j| j.0 != p);
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
            .filter(|j| j.1 <= tolerance)
            .map(|j| j.0)
            .collect();
        self.jobs.retain(|j| j.1 > tolerance);
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
        assert_eq!(s.add(0.0, 1, 10.0).map(|n| n.0), Some(1.0));
        // A second job at 0.5 s: the first has 5 left, both go at 5 a second, the first finishes at 1.5 s.
        let (at, generation) = s.add(0.5, 2, 10.0).expect("a job");
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
        s.add(0.0, 1, 4.0);
        s.add(0.0, 2, 4.0);
        let (at, _) = s.remove(2.0, 2).expect("one left");
        // Half done at 2 s, alone for the rest.
        assert!((at - 5.0).abs() < 1e-9, "{at}");
    }
}
