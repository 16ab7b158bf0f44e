//! Behaviour of every Store backend, and redb's safety across processes.

use std::process::Command;
use std::sync::Arc;

use berth_store::{get_json, put_json, transact, MemStore, RedbStore, Store, StoreError};

fn exercise(store: &dyn Store) {
    assert_eq!(store.get("a").expect("get"), None);
    store.put("a", b"1").expect("put");
    store.put("ab/x", b"2").expect("put");
    store.put("ab/y", b"3").expect("put");
    store.put("b", b"4").expect("put");
    assert_eq!(store.get("a").expect("get").as_deref(), Some(&b"1"[..]));
    let listed = store.list_prefix("ab/").expect("list");
    assert_eq!(
        listed,
        vec![
            ("ab/x".to_string(), b"2".to_vec()),
            ("ab/y".to_string(), b"3".to_vec())
        ]
    );
    assert_eq!(store.list_prefix("").expect("list all").len(), 4);
    assert!(store.delete("b").expect("delete"));
    assert!(!store.delete("b").expect("delete again"));

    // compare-and-swap: absent -> value, wrong expectation, value -> deleted
    assert!(store.compare_and_swap("c", None, Some(b"v1")).expect("cas"));
    assert!(!store.compare_and_swap("c", None, Some(b"v2")).expect("cas"));
    assert!(!store
        .compare_and_swap("c", Some(b"zz"), Some(b"v2"))
        .expect("cas"));
    assert!(store
        .compare_and_swap("c", Some(b"v1"), Some(b"v2"))
        .expect("cas"));
    assert_eq!(store.get("c").expect("get").as_deref(), Some(&b"v2"[..]));
    assert!(store.compare_and_swap("c", Some(b"v2"), None).expect("cas"));
    assert_eq!(store.get("c").expect("get"), None);

    // A transaction sees its own writes; an error rolls everything back.
    #[derive(Debug)]
    enum MyErr {
        #[allow(dead_code)] // only read through Debug in assertion messages
        Store(StoreError),
        Nope,
    }
    impl From<StoreError> for MyErr {
        fn from(e: StoreError) -> Self {
            MyErr::Store(e)
        }
    }
    let r: Result<(), MyErr> = transact(store, |t| {
        t.put("tx/1", b"x")?;
        assert_eq!(t.get("tx/1")?.as_deref(), Some(&b"x"[..]));
        assert_eq!(t.list_prefix("tx/")?.len(), 1);
        Err(MyErr::Nope)
    });
    assert!(matches!(r, Err(MyErr::Nope)), "got {r:?}");
    assert_eq!(store.get("tx/1").expect("get"), None);

    let n: u32 = transact::<_, StoreError, _>(store, |t| {
        put_json(t, "tx/json", &41u32)?;
        let v: Option<u32> = get_json(t, "tx/json")?;
        Ok(v.unwrap_or(0) + 1)
    })
    .expect("transact");
    assert_eq!(n, 42);

    store.put("bad", b"{not json").expect("put");
    let r: Result<Option<u32>, StoreError> = transact(store, |t| get_json::<u32>(t, "bad"));
    match r {
        Err(StoreError::Decode { key, .. }) => assert_eq!(key, "bad"),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn mem_store_behaves() {
    exercise(&MemStore::new());
}

#[test]
fn redb_store_behaves_and_persists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub/dir/store.redb");
    {
        let store = RedbStore::open(&path).expect("open");
        exercise(&store);
    }
    let store = RedbStore::open(&path).expect("reopen");
    assert_eq!(store.get("a").expect("get").as_deref(), Some(&b"1"[..]));
}

#[test]
fn redb_open_reports_a_bad_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").expect("write");
    match RedbStore::open(file.join("store.redb")) {
        Err(StoreError::Open { path, .. }) => assert!(path.ends_with("store.redb")),
        other => panic!("expected an open error, got {other:?}"),
    }
}

fn increment(store: &dyn Store, times: usize) {
    for _ in 0..times {
        transact::<_, StoreError, _>(store, |t| {
            let v: u64 = get_json(t, "counter")?.unwrap_or(0);
            put_json(t, "counter", &(v + 1))
        })
        .expect("increment");
    }
}

#[test]
fn concurrent_threads_never_lose_an_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(RedbStore::open_in_dir(dir.path()).expect("open"));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let s = Arc::clone(&store);
            std::thread::spawn(move || increment(s.as_ref(), 50))
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let v: Option<u64> =
        transact::<_, StoreError, _>(store.as_ref(), |t| get_json(t, "counter")).expect("read");
    assert_eq!(v, Some(400));
}

const WORKER_ENV: &str = "BERTH_STORE_TEST_WORKER_DIR";

/// Run as a child process by `concurrent_processes_never_lose_an_update`:
/// each child opens the store itself (racing the others to create it) and
/// increments the counter.
#[test]
fn process_worker() {
    let Ok(dir) = std::env::var(WORKER_ENV) else {
        return; // not started as a worker: nothing to do
    };
    let store = RedbStore::open_in_dir(&dir).expect("worker open");
    increment(&store, 25);
}

#[test]
fn concurrent_processes_never_lose_an_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current exe");
    // The file does not exist yet: the children race to create it.
    let children: Vec<_> = (0..12)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "process_worker", "--test-threads=1", "--quiet"])
                .env(WORKER_ENV, dir.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    for mut c in children {
        let status = c.wait().expect("wait worker");
        assert!(status.success(), "worker failed: {status}");
    }
    let store = RedbStore::open_in_dir(dir.path()).expect("open");
    let v: Option<u64> =
        transact::<_, StoreError, _>(&store, |t| get_json(t, "counter")).expect("read");
    assert_eq!(v, Some(12 * 25));
}
