//! Gzip on every core: the stream is cut into blocks and each block becomes a gzip member of its own.
//!
//! A concatenation of gzip members is one valid gzip stream (RFC 1952 §2.2): `gzip -d`, `tar -xz`, Java's
//! `GZIPInputStream` (NiFi), Python's `gzip` and flate2's `MultiGzDecoder` read it whole. Blocks are
//! independent, so they compress in parallel — the Lambda has two vCPUs at the memory we give it — and
//! with libdeflate, which compresses a whole buffer about twice as fast as zlib at a better ratio. What a
//! block loses by not seeing the previous block's 32 KiB window is under 0.1% at 1 MiB blocks (measured,
//! docs/performance.md).
//!
//! Memory is bounded: at most two blocks per worker are in flight, each with its output buffer, and buffers
//! are reused, so a 1 GiB bundle holds the same few MiB as a small one.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use libdeflater::{CompressionLvl, Compressor};

/// The uncompressed size of one gzip member.
pub const BLOCK_SIZE: usize = 1 << 20;

/// Blocks in flight per worker: one being compressed, one queued, so a worker never waits for the writer.
const IN_FLIGHT_PER_WORKER: usize = 2;

/// The most a gzip member of at most [`BLOCK_SIZE`] bytes can add to its input: libdeflate's
/// `libdeflate_gzip_compress_bound` — 18 bytes of gzip header and trailer, and 5 bytes per uncompressed
/// deflate block of at least 5,000 bytes, the worst case it ever falls back to.
pub const MEMBER_OVERHEAD: u64 = 18 + 5 * (BLOCK_SIZE as u64).div_ceil(5000);

/// A block on its way to a worker, with the buffer its compressed bytes go into.
struct Job {
    input: Vec<u8>,
    output: Vec<u8>,
    /// How many bytes of `output` are the member.
    compressed: usize,
}

struct Worker {
    jobs: SyncSender<Job>,
    done: Receiver<io::Result<Job>>,
    thread: JoinHandle<()>,
}

/// Writes the gzip members of what is written to it, in order, into `inner`.
pub struct MemberWriter<W: Write> {
    inner: W,
    block: Vec<u8>,
    workers: Vec<Worker>,
    /// The worker of each block sent and not yet written out, oldest first. Workers take blocks in turn and
    /// answer in order, so the oldest block's result is the next one its worker sends back.
    pending: VecDeque<usize>,
    sent: usize,
    spare: Vec<Job>,
    /// Uncompressed bytes sent to the workers and not yet written out.
    in_flight: u64,
    /// Compressed bytes written to `inner`.
    written: u64,
}

impl<W: Write> MemberWriter<W> {
    /// Compresses at `level` (0–12, libdeflate's scale; 0–9 mean what they mean to gzip) on `threads` workers.
    pub fn new(inner: W, level: u32, threads: usize) -> io::Result<MemberWriter<W>> {
        let level = i32::try_from(level)
            .ok()
            .and_then(|l| CompressionLvl::new(l).ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("gzip level {level} is out of range: use 0 (store) to 12"),
                )
            })?;
        let workers = (0..threads.max(1))
            .map(|i| spawn_worker(i, level))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(MemberWriter {
            inner,
            block: Vec::with_capacity(BLOCK_SIZE),
            workers,
            pending: VecDeque::new(),
            sent: 0,
            spare: Vec::new(),
            in_flight: 0,
            written: 0,
        })
    }

    /// The most this writer can have written to `inner` once `more` bytes are written to it and it is
    /// finished: what it wrote so far, plus the uncompressed bytes not yet out at their worst expansion.
    pub fn size_bound_after(&self, more: u64) -> u64 {
        let buffered = self.block.len() as u64 + more;
        let members = self.pending.len() as u64 + buffered.div_ceil(BLOCK_SIZE as u64).max(1);
        self.written + self.in_flight + buffered + members * MEMBER_OVERHEAD
    }

    /// Compresses what is left, writes every member and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        // An empty stream is still one (empty) member, so the result is always valid gzip.
        if !self.block.is_empty() || self.sent == 0 {
            self.send_block()?;
        }
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        let workers = std::mem::take(&mut self.workers);
        for worker in workers {
            drop(worker.jobs);
            worker
                .thread
                .join()
                .map_err(|_| io::Error::other("a compression worker panicked"))?;
        }
        Ok(self.inner)
    }

    fn send_block(&mut self) -> io::Result<()> {
        let next = self.spare.pop().unwrap_or_else(|| Job {
            input: Vec::with_capacity(BLOCK_SIZE),
            output: Vec::new(),
            compressed: 0,
        });
        let input = std::mem::replace(&mut self.block, next.input);
        self.in_flight += input.len() as u64;
        let index = self.sent % self.workers.len();
        self.workers[index]
            .jobs
            .send(Job {
                input,
                output: next.output,
                compressed: 0,
            })
            .map_err(|_| worker_gone())?;
        self.pending.push_back(index);
        self.sent += 1;
        if self.pending.len() >= IN_FLIGHT_PER_WORKER * self.workers.len() {
            self.write_oldest()?;
        }
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(index) = self.pending.pop_front() else {
            return Ok(());
        };
        let mut job = self.workers[index]
            .done
            .recv()
            .map_err(|_| worker_gone())??;
        self.inner.write_all(&job.output[..job.compressed])?;
        self.written += job.compressed as u64;
        self.in_flight -= job.input.len() as u64;
        job.input.clear();
        self.spare.push(job);
        Ok(())
    }
}

impl<W: Write> Write for MemberWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BLOCK_SIZE - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == BLOCK_SIZE {
            self.send_block()?;
        }
        Ok(n)
    }

    /// Blocks are only ever written whole; what is buffered waits for `finish`.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn spawn_worker(index: usize, level: CompressionLvl) -> io::Result<Worker> {
    let (jobs, job_rx) = sync_channel::<Job>(IN_FLIGHT_PER_WORKER);
    let (done_tx, done) = sync_channel::<io::Result<Job>>(IN_FLIGHT_PER_WORKER);
    let thread = std::thread::Builder::new()
        .name(format!("gzip-{index}"))
        .spawn(move || {
            let mut compressor = Compressor::new(level);
            for mut job in job_rx {
                // Grown once and never shrunk: zeroing a 1 MiB buffer per block showed in the profile.
                let bound = compressor.gzip_compress_bound(job.input.len());
                if job.output.len() < bound {
                    job.output.resize(bound, 0);
                }
                let result = compressor
                    .gzip_compress(&job.input, &mut job.output)
                    .map(|n| {
                        job.compressed = n;
                        job
                    })
                    .map_err(|e| io::Error::other(format!("libdeflate could not compress: {e:?}")));
                if done_tx.send(result).is_err() {
                    return;
                }
            }
        })?;
    Ok(Worker { jobs, done, thread })
}

fn worker_gone() -> io::Error {
    io::Error::other("a compression worker stopped before the bundle was finished")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn roundtrip(data: &[u8], threads: usize) -> Vec<u8> {
        let mut w = MemberWriter::new(Vec::new(), 5, threads).expect("writer");
        // Odd write sizes cross block boundaries at every offset.
        for chunk in data.chunks(7919) {
            w.write_all(chunk).expect("write");
        }
        let gz = w.finish().expect("finish");
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(gz.as_slice())
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn members_decode_to_the_input_in_order() {
        let data: Vec<u8> = (0..(3 * BLOCK_SIZE + 12345))
            .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
            .collect();
        for threads in [1, 2, 3] {
            assert_eq!(roundtrip(&data, threads), data, "{threads} threads");
        }
    }

    #[test]
    fn the_member_overhead_covers_libdeflates_bound() {
        let mut compressor = Compressor::new(CompressionLvl::default());
        for n in [0, 1, 4999, 5000, 5001, 65_536, BLOCK_SIZE - 1, BLOCK_SIZE] {
            assert!(
                compressor.gzip_compress_bound(n) as u64 <= n as u64 + MEMBER_OVERHEAD,
                "{n} bytes"
            );
        }
    }

    #[test]
    fn the_size_bound_holds_for_incompressible_data() {
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let data: Vec<u8> = (0..3 * BLOCK_SIZE + 777)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut w = MemberWriter::new(Vec::new(), 5, 2).expect("writer");
        let bound = w.size_bound_after(data.len() as u64);
        w.write_all(&data[..BLOCK_SIZE + 10]).expect("write");
        let later = w.size_bound_after((data.len() - BLOCK_SIZE - 10) as u64);
        w.write_all(&data[BLOCK_SIZE + 10..]).expect("write");
        let out = w.finish().expect("finish");
        assert!(
            out.len() as u64 <= later && later <= bound,
            "{} > {later} or {later} > {bound}",
            out.len()
        );
        assert!(
            out.len() as u64 > data.len() as u64,
            "incompressible input grows"
        );
    }

    #[test]
    fn an_empty_stream_is_valid_gzip() {
        assert!(roundtrip(&[], 2).is_empty());
    }

    #[test]
    fn a_level_out_of_range_is_refused_with_the_range() {
        let Err(e) = MemberWriter::new(Vec::new(), 13, 1) else {
            panic!("level 13 accepted")
        };
        assert!(e.to_string().contains("0 (store) to 12"), "{e}");
    }
}
