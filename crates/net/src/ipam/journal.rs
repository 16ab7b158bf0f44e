//! The lease journal of [`super::LeaseFiles`]: what makes a lease durable
//! without a filesystem journal commit.
//!
//! A new file's `fsync` commits the filesystem's journal, and on ext4
//! (data=ordered) that commit first writes out the data of every file any
//! process allocated blocks for meanwhile: on this shared machine, with
//! compilers writing, 0.5 ms became 8 ms and more. Overwriting blocks a
//! file already has, then `fdatasync`, changes no metadata the data needs,
//! so it is one block write and a cache flush (0.1 ms either way).
//!
//! So the journal is a file of fixed 256-byte slots, written with zeros
//! (allocated) once when it is made: a 4 KiB header (magic, the boot id,
//! the next sequence number, the checkpoint) and a ring of [`SLOTS`]
//! records. Each durable put writes its record (sequence number, key,
//! value, checksum) into slot `seq % SLOTS` and the header in place, and
//! `fdatasync`s the journal once per transaction.
//!
//! Within one boot the lease files are the truth (the page cache outlives
//! any process). After a reboot (the header's boot id differs), records
//! after the checkpoint are replayed into the files, in order, which are
//! then synced. Before the ring wraps onto records after the checkpoint,
//! the files those records name are synced and the checkpoint moves on.
//! Deletions are not journaled (see [`super::LeaseFiles`]).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Records in the ring: a checkpoint every this many durable puts.
pub(super) const SLOTS: u64 = 2048;
const SLOT: u64 = 256;
const HEADER: u64 = 4096;
const MAGIC: &[u8; 16] = b"berth-leases-v1\n";
/// Room for key and value in a slot (after seq, lengths and checksum).
const ROOM: usize = SLOT as usize - 8 - 2 - 2 - 8;

/// One journaled put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub seq: u64,
    pub key: String,
    pub value: Vec<u8>,
}

/// The journal file, open for one transaction or recovery.
pub(super) struct Journal {
    file: File,
    path: PathBuf,
    boot: [u8; 36],
    next: u64,
    checkpoint: u64,
}

fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`); zeros if unknown,
/// which never triggers a replay.
fn boot_id() -> [u8; 36] {
    let mut id = [0u8; 36];
    if let Ok(s) = std::fs::read("/proc/sys/kernel/random/boot_id") {
        let n = s.len().min(36);
        id[..n].copy_from_slice(&s[..n]);
    }
    id
}

/// Whether `key`/`value` fit in one slot.
pub(super) fn fits(key: &str, value: &[u8]) -> bool {
    key.len() + value.len() <= ROOM
}

fn encode(r: &Record) -> [u8; SLOT as usize] {
    let mut b = [0u8; SLOT as usize];
    b[0..8].copy_from_slice(&r.seq.to_le_bytes());
    b[8..10].copy_from_slice(&(r.key.len() as u16).to_le_bytes());
    b[10..12].copy_from_slice(&(r.value.len() as u16).to_le_bytes());
    let body = 12 + r.key.len() + r.value.len();
    b[12..12 + r.key.len()].copy_from_slice(r.key.as_bytes());
    b[12 + r.key.len()..body].copy_from_slice(&r.value);
    let sum = fnv(&b[..body]);
    b[SLOT as usize - 8..].copy_from_slice(&sum.to_le_bytes());
    b
}

fn decode(b: &[u8]) -> Option<Record> {
    let u16_at = |i: usize| usize::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let seq = u64::from_le_bytes(b[0..8].try_into().ok()?);
    let (kl, vl) = (u16_at(8), u16_at(10));
    let body = 12 + kl + vl;
    if body > SLOT as usize - 8 {
        return None;
    }
    let sum = u64::from_le_bytes(b[SLOT as usize - 8..].try_into().ok()?);
    if sum != fnv(&b[..body]) {
        return None;
    }
    Some(Record {
        seq,
        key: String::from_utf8(b[12..12 + kl].to_vec()).ok()?,
        value: b[12 + kl..body].to_vec(),
    })
}

impl Journal {
    /// Opens the journal at `path`, making it (allocated, synced, with its
    /// directory) if absent. Call with the store's lock held.
    pub fn open(path: &Path) -> io::Result<Journal> {
        let boot = boot_id();
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => {
                let mut h = [0u8; 68];
                file.read_exact_at(&mut h, 0)?;
                if &h[..16] != MAGIC {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} is not a berth lease journal", path.display()),
                    ));
                }
                let mut old_boot = [0u8; 36];
                old_boot.copy_from_slice(&h[16..52]);
                let next = u64::from_le_bytes(h[52..60].try_into().unwrap_or_default());
                let checkpoint = u64::from_le_bytes(h[60..68].try_into().unwrap_or_default());
                // Another boot with nothing left to replay: this one's now
                // (written with the next header), so that later records are
                // never replayed within the boot that wrote them.
                let boot = if next == checkpoint { boot } else { old_boot };
                Ok(Journal {
                    file,
                    path: path.to_path_buf(),
                    boot,
                    next,
                    checkpoint,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Self::create(path, boot),
            Err(e) => Err(e),
        }
    }

    fn create(path: &Path, boot: [u8; 36]) -> io::Result<Journal> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".new");
        let tmp = PathBuf::from(tmp);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        // Written, not fallocated: unwritten extents would make the first
        // write to each block a metadata change again.
        let zeros = vec![0u8; (HEADER + SLOTS * SLOT) as usize];
        file.write_all_at(&zeros, 0)?;
        let j = Journal {
            file,
            path: path.to_path_buf(),
            boot,
            next: 0,
            checkpoint: 0,
        };
        j.write_header()?;
        j.file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(j)
    }

    /// Whether this boot is not the one that wrote the journal last: the
    /// records after the checkpoint must be replayed.
    pub fn needs_replay(&self) -> bool {
        self.boot != boot_id() && self.next > self.checkpoint
    }

    /// The records after the checkpoint, oldest first (torn or foreign
    /// slots skipped).
    pub fn pending(&self) -> io::Result<Vec<Record>> {
        let mut out = Vec::new();
        let mut slot = [0u8; SLOT as usize];
        for seq in self.checkpoint.max(self.next.saturating_sub(SLOTS))..self.next {
            self.file
                .read_exact_at(&mut slot, HEADER + (seq % SLOTS) * SLOT)?;
            if let Some(r) = decode(&slot).filter(|r| r.seq == seq) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Whether appending `n` records would overwrite records after the
    /// checkpoint: the caller syncs what [`Journal::pending`] names and
    /// calls [`Journal::checkpoint`] first.
    pub fn full_for(&self, n: u64) -> bool {
        self.next + n - self.checkpoint > SLOTS
    }

    /// Everything before the next record is on disk elsewhere; also adopts
    /// this boot.
    pub fn checkpoint(&mut self) -> io::Result<()> {
        self.checkpoint = self.next;
        self.boot = boot_id();
        self.write_header()?;
        self.file.sync_data()
    }

    /// Appends records for `puts` and makes them durable (one
    /// `fdatasync`). Each must [`fits`].
    #[cfg(test)]
    pub fn append(&mut self, puts: &[(&str, &[u8])]) -> io::Result<()> {
        self.write(puts)?;
        self.file.sync_data()
    }

    /// Writes records for `puts` without syncing them; a later
    /// `fdatasync` of [`Journal::file`] makes them durable.
    pub fn write(&mut self, puts: &[(&str, &[u8])]) -> io::Result<()> {
        for (key, value) in puts {
            let r = Record {
                seq: self.next,
                key: (*key).to_string(),
                value: value.to_vec(),
            };
            self.file
                .write_all_at(&encode(&r), HEADER + (r.seq % SLOTS) * SLOT)?;
            self.next += 1;
        }
        self.write_header()
    }

    /// The journal file (to sync it from another thread).
    pub fn file(&self) -> &File {
        &self.file
    }

    fn write_header(&self) -> io::Result<()> {
        let mut h = [0u8; 68];
        h[..16].copy_from_slice(MAGIC);
        h[16..52].copy_from_slice(&self.boot);
        h[52..60].copy_from_slice(&self.next.to_le_bytes());
        h[60..68].copy_from_slice(&self.checkpoint.to_le_bytes());
        self.file.write_all_at(&h, 0)
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_slots_are_refused() {
        let r = Record {
            seq: 7,
            key: "ipam/v1/n/ip/10.0.0.2".into(),
            value: br#"{"ip":"10.0.0.2"}"#.to_vec(),
        };
        let mut b = encode(&r);
        assert_eq!(decode(&b), Some(r));
        b[20] ^= 1;
        assert_eq!(decode(&b), None);
        assert_eq!(decode(&[0u8; SLOT as usize]), None, "a never written slot");
        assert!(!fits(&"k".repeat(200), &[0u8; 100]));
    }

    #[test]
    fn appends_survive_reopen_and_checkpoints_bound_the_replay() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("j");
        let mut j = Journal::open(&p).expect("create");
        assert!(!j.needs_replay());
        j.append(&[("a", b"1"), ("b", b"2")]).expect("append");
        let j2 = Journal::open(&p).expect("reopen");
        let keys: Vec<String> = j2
            .pending()
            .expect("pending")
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(keys, ["a", "b"]);
        // Same boot: nothing to replay.
        assert!(!j2.needs_replay());
        let mut j3 = Journal::open(&p).expect("reopen");
        assert!(!j3.full_for(SLOTS - 2) && j3.full_for(SLOTS - 1));
        j3.checkpoint().expect("checkpoint");
        assert!(Journal::open(&p)
            .expect("reopen")
            .pending()
            .expect("p")
            .is_empty());
    }
}
