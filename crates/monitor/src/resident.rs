//! Handing back the resident pages a long-lived process no longer uses.
//!
//! The kernel maps code on a fault 64 KiB at a time (fault-around), so
//! set-up work leaves most of a binary's text in its resident set: 1.6 MiB
//! of berth-monitor's after it created a container, 12 MiB of berthd's
//! after start. Those pages stay in the page cache (shared, clean) when a
//! process unmaps them with `MADV_DONTNEED`; what it runs later faults
//! back in, a minor fault per 64 KiB. The monitor does that once its
//! container is started, berthd whenever its API falls quiet.
//!
//! Only clean pages are dropped: those of the read-only segments of the
//! loaded objects (the executable and its shared libraries, as the dynamic
//! loader lists them, with its lock held, so no object is mapped or
//! unmapped meanwhile) that lie in private file mappings with no page of
//! their own. Their content is the file's, so dropping them loses nothing.

use std::os::raw::{c_int, c_void};

/// What [`drop_clean_code`] gave back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub mappings: usize,
    /// Resident KiB of those mappings before the drop.
    pub kib: u64,
}

/// One mapping of /proc/self/smaps, the fields the drop needs.
#[derive(Debug, PartialEq, Eq)]
struct Mapping<'a> {
    start: usize,
    end: usize,
    perms: &'a str,
    path: &'a str,
    rss_kib: u64,
    anon_kib: u64,
    locked_kib: u64,
}

impl Mapping<'_> {
    /// Read-only, private, of a file, resident, and with no page of its
    /// own (a copy-on-write page, as relocated read-only data has, would
    /// be lost).
    fn clean(&self) -> bool {
        let p = self.perms.as_bytes();
        p.len() == 4
            && p[1] != b'w'
            && p[3] == b'p'
            && self.path.starts_with('/')
            && self.rss_kib > 0
            && self.anon_kib == 0
            && self.locked_kib == 0
    }
}

/// The part of the read-only segment `[start, end)` inside `m`, page
/// aligned (a segment's mapping starts at its first page).
fn overlap(m: &Mapping<'_>, start: usize, end: usize, page: usize) -> Option<(usize, usize)> {
    let s = (start & !(page - 1)).max(m.start);
    let e = end
        .checked_add(page - 1)
        .map_or(usize::MAX, |x| x & !(page - 1))
        .min(m.end);
    (s < e).then_some((s, e))
}

/// The mappings of an smaps text (unparsable entries are skipped).
fn mappings(smaps: &str) -> Vec<Mapping<'_>> {
    let mut out: Vec<Mapping<'_>> = Vec::new();
    for line in smaps.lines() {
        if let Some(m) = header(line) {
            out.push(m);
            continue;
        }
        let Some(m) = out.last_mut() else { continue };
        let mut w = line.split_whitespace();
        let (Some(key), Some(kib)) = (w.next(), w.next().and_then(|v| v.parse().ok())) else {
            continue;
        };
        match key {
            "Rss:" => m.rss_kib = kib,
            "Anonymous:" => m.anon_kib = kib,
            "Locked:" => m.locked_kib = kib,
            _ => {}
        }
    }
    out
}

/// `start-end perms offset dev inode [path]`, or None for a field line.
fn header(line: &str) -> Option<Mapping<'_>> {
    let mut w = line.split_whitespace();
    let (start, end) = w.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = w.next()?;
    let (_offset, _dev, _inode) = (w.next()?, w.next()?, w.next()?);
    Some(Mapping {
        start,
        end,
        perms,
        path: w.next().unwrap_or(""),
        // Unknown until its Rss/Anonymous lines: nothing to drop yet, and
        // never droppable without them.
        rss_kib: 0,
        anon_kib: u64::MAX,
        locked_kib: 0,
    })
}

/// Unmaps the resident clean pages of the executable's and the shared
/// libraries' read-only segments (see the module doc).
pub fn drop_clean_code() -> std::io::Result<Dropped> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let clean: Vec<Mapping<'_>> = mappings(&smaps)
        .into_iter()
        .filter(Mapping::clean)
        .collect();
    // SAFETY: sysconf takes an integer.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let mut walk = Walk {
        hit: vec![false; clean.len()],
        clean: &clean,
        page,
    };
    // SAFETY: the callback gets `walk` back as its data pointer, alive and
    // not otherwise borrowed for the whole call.
    unsafe { libc::dl_iterate_phdr(Some(each_object), std::ptr::addr_of_mut!(walk).cast()) };
    let mut dropped = Dropped::default();
    for (m, _) in clean.iter().zip(&walk.hit).filter(|(_, hit)| **hit) {
        dropped.mappings += 1;
        dropped.kib += m.rss_kib;
    }
    Ok(dropped)
}

struct Walk<'a> {
    clean: &'a [Mapping<'a>],
    /// Which of `clean` had pages dropped.
    hit: Vec<bool>,
    page: usize,
}

/// dl_iterate_phdr's callback: drops the clean part of each read-only
/// `PT_LOAD` segment of one loaded object.
unsafe extern "C" fn each_object(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: the loader passes a valid info for the object, and `data`
    // is the `Walk` drop_clean_code lent to this call.
    let (info, walk) = unsafe { (&*info, &mut *data.cast::<Walk<'_>>()) };
    for i in 0..usize::from(info.dlpi_phnum) {
        // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        if ph.p_type != libc::PT_LOAD || ph.p_flags & libc::PF_W != 0 {
            continue;
        }
        let start = (info.dlpi_addr + ph.p_vaddr) as usize;
        let end = start.saturating_add(ph.p_memsz as usize);
        for (j, m) in walk.clean.iter().enumerate() {
            let Some((s, e)) = overlap(m, start, end, walk.page) else {
                continue;
            };
            // SAFETY: [s, e) is a read-only segment of an object the loader
            // keeps mapped (its lock is held during this callback), inside
            // a private file mapping without private pages: MADV_DONTNEED
            // only unmaps page-cache pages, which fault back in unchanged.
            if unsafe { libc::madvise(s as *mut c_void, e - s, libc::MADV_DONTNEED) } == 0 {
                walk.hit[j] = true;
            }
        }
    }
    0
}

/// Unmaps the main thread's stack pages below the caller's frame (what
/// deep set-up calls left there). Call it from the main thread only, at
/// a shallow point; it does nothing on other threads.
pub fn drop_unused_stack() -> std::io::Result<()> {
    // SAFETY: getpid and gettid take no arguments.
    if unsafe { libc::getpid() != libc::gettid() } {
        return Ok(());
    }
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let Some(start) = maps
        .lines()
        .filter(|l| l.ends_with("[stack]"))
        .find_map(|l| header(l).map(|m| m.start))
    else {
        return Ok(());
    };
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    // Leave the frames of the calls made from here (madvise's own) alone.
    let page = 4096;
    let end = (sp & !(page - 1)).saturating_sub(4 * page);
    if end > start {
        // SAFETY: [start, end) lies in this thread's stack mapping, below
        // every live frame (the stack grows down from above `sp`).
        if unsafe { libc::madvise(start as *mut c_void, end - start, libc::MADV_DONTNEED) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Returns the allocator's free memory to the kernel (glibc keeps it).
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and may be called from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55c3b7e23000-55c3b8268000 r--p 00000000 fe:00 10027283                   /usr/bin/berth
Size:               4372 kB
Rss:                1024 kB
Anonymous:             0 kB
Locked:                0 kB
55c3b8268000-55c3b9453000 r-xp 00444000 fe:00 10027283                   /usr/bin/berth
Rss:               12316 kB
Anonymous:             0 kB
Locked:                0 kB
55c3b9453000-55c3b94ee000 r--p 0162e000 fe:00 10027283                   /usr/bin/berth
Rss:                 620 kB
Anonymous:           620 kB
55c3b94ee000-55c3b94f1000 rw-p 016c8000 fe:00 10027283                   /usr/bin/berth
Rss:                  12 kB
Anonymous:            12 kB
7f4b2c000000-7f4b2c112000 rw-p 00000000 00:00 0
Rss:                 876 kB
Anonymous:           876 kB
7f4b33931000-7f4b33934000 r-xp 00000000 fe:00 77                         /usr/lib/x86_64-linux-gnu/libnftables.so.1.1.0
Rss:                 444 kB
Anonymous:             0 kB
7f4b34000000-7f4b34010000 r--p 00000000 fe:00 78                         /var/lib/berth/data.db
Rss:                  64 kB
Anonymous:             0 kB
7f4b34149000-7f4b3414b000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   8 kB
Anonymous:             0 kB
7f4b3414c000-7f4b3414d000 r-xp 00000000 fe:00 79                         /usr/lib/libfoo.so
Rss:                   0 kB
Anonymous:             0 kB
7f4b3414d000-7f4b3414e000 r-xp 00000000 fe:00 80                         /usr/lib/libbar.so
";

    fn clean() -> Vec<(usize, u64)> {
        mappings(SMAPS)
            .iter()
            .filter(|m| m.clean())
            .map(|m| (m.start, m.rss_kib))
            .collect()
    }

    #[test]
    fn only_clean_read_only_file_pages_are_candidates() {
        assert_eq!(
            clean(),
            vec![
                (0x55c3b7e23000, 1024),
                (0x55c3b8268000, 12316),
                (0x7f4b33931000, 444),
                (0x7f4b34000000, 64),
            ],
            "not: relocated read-only data, writable data, anonymous memory, \
             the vDSO, a mapping with nothing resident or one whose fields \
             are missing (a file that is no loaded object's segment is left \
             out by the segment walk)"
        );
    }

    #[test]
    fn a_segment_is_cut_to_the_mapping_and_to_pages() {
        let m = Mapping {
            start: 0x10000,
            end: 0x20000,
            perms: "r-xp",
            path: "/bin/x",
            rss_kib: 4,
            anon_kib: 0,
            locked_kib: 0,
        };
        assert_eq!(
            overlap(&m, 0x10280, 0x1f010, 0x1000),
            Some((0x10000, 0x20000))
        );
        assert_eq!(
            overlap(&m, 0x8000, 0x30000, 0x1000),
            Some((0x10000, 0x20000))
        );
        assert_eq!(
            overlap(&m, 0x12345, 0x13000, 0x1000),
            Some((0x12000, 0x13000))
        );
        assert_eq!(overlap(&m, 0x20000, 0x30000, 0x1000), None);
        assert_eq!(overlap(&m, 0x1000, 0x10000, 0x1000), None);
    }

    #[test]
    fn dropped_code_still_runs() -> std::io::Result<()> {
        let before = drop_clean_code()?;
        assert!(
            before.mappings > 0 && before.kib > 0,
            "this test binary has code resident: {before:?}"
        );
        drop_unused_stack()?;
        trim_heap();
        // The code and data it drops fault back in unchanged.
        let v: Vec<String> = (0..100).map(|i| format!("{i}")).collect();
        assert_eq!(v.concat().len(), 190);
        assert!(!std::fs::read_to_string("/proc/self/comm")?.is_empty());
        Ok(())
    }
}
