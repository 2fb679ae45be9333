//! The benchmark's input: directories of JSON-lines files, generated deterministically (the same bytes on
//! every machine), once, under `target/bench/data/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A generated set of files.
#[derive(Debug, Clone, Copy)]
pub struct Corpus {
    pub files: usize,
    /// Each file is whole lines, just over this many bytes.
    pub file_size: usize,
}

impl Corpus {
    pub fn name(&self) -> String {
        format!("jsonl-{}x{}k", self.files, self.file_size / 1000)
    }

    /// The corpus's directory, generated if it is not there yet (a marker beside it says it is complete).
    pub fn ensure(&self, root: &Path) -> Result<PathBuf> {
        let base = root.join("target/bench/data");
        let dir = base.join(self.name());
        let marker = base.join(format!("{}.complete", self.name()));
        if marker.exists() {
            return Ok(dir);
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the partial {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        eprintln!("generating {} ({} files)…", dir.display(), self.files);
        for i in 0..self.files {
            let path = dir.join(format!("{i:05}.jsonl"));
            std::fs::write(&path, file(i, self.file_size))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        std::fs::write(&marker, b"").with_context(|| format!("writing {}", marker.display()))?;
        Ok(dir)
    }

    pub fn bytes(&self, dir: &Path) -> Result<u64> {
        let mut total = 0;
        for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            total += entry?.metadata()?.len();
        }
        Ok(total)
    }
}

/// File `index`: sensor readings as JSON lines, varied enough that compression has real work to do.
pub fn file(index: usize, size: usize) -> Vec<u8> {
    const SITES: [&str; 5] = ["north-gate", "south-yard", "plant-7", "dock-a", "tower-3"];
    const METRICS: [&str; 6] = [
        "temperature",
        "pressure",
        "humidity",
        "flow_rate",
        "voltage",
        "current",
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ (index as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut out = String::with_capacity(size + 256);
    let mut seq = 0u64;
    while out.len() < size {
        // xorshift64: deterministic and dependency-free; statistical quality does not matter here.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let r = state;
        let _ = writeln!(
            out,
            r#"{{"ts":"2026-11-22T{:02}:{:02}:{:02}.{:03}Z","device":"dev-{:05}","site":"{}","metric":"{}","value":{}.{:03},"seq":{},"status":"{}"}}"#,
            (r >> 8) % 24,
            (r >> 16) % 60,
            (r >> 24) % 60,
            (r >> 32) % 1000,
            (r >> 40) % 20000,
            SITES[(r % 5) as usize],
            METRICS[((r >> 4) % 6) as usize],
            (r >> 44) % 1000,
            (r >> 12) % 1000,
            index as u64 * 100_000 + seq,
            if r.is_multiple_of(17) { "warn" } else { "ok" },
        );
        seq += 1;
    }
    out.into_bytes()
}
