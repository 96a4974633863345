//! A full disk: the write that does not fit is refused with a clear error, everything
//! committed before stays, and the store works again once there is space. Uses a real
//! full file system (a small tmpfs), so it needs root; it says so and skips without.

#[path = "../../tests/support/tmpfs.rs"]
mod tmpfs;

use tmpfs::Tmpfs;

use std::process::Command;

use tellus_core::model::{NewStory, sample_project};
use tellus_core::{Error, Store};

fn story(n: usize) -> NewStory {
    NewStory {
        title: format!("Story {n}"),
        summary: "What the storyteller said about the service. ".repeat(200),
        storyteller_label: format!("P{n}"),
    }
}

#[test]
fn a_full_disk_refuses_the_write_and_loses_nothing() {
    let mount_point = tempfile::tempdir().unwrap();
    let Some(_tmpfs) = Tmpfs::mount(mount_point.path(), "4m") else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    let data = mount_point.path().join("data");
    let store = Store::open(&data).unwrap();
    store.set_project(&sample_project()).unwrap();

    let mut committed = 0;
    let err = loop {
        match store.create_story(&story(committed)) {
            Ok(_) => committed += 1,
            Err(e) => break e,
        }
        assert!(committed < 10_000, "the disk never filled up");
    };
    assert!(matches!(err, Error::StorageFull), "{err}");
    assert!(err.to_string().contains("storage is full"), "{err}");
    assert!(committed > 10, "only {committed} stories fitted");
    let before = store.testing_dump().unwrap();
    assert!(store.create_story(&story(committed)).is_err());
    assert_eq!(
        store.testing_dump().unwrap(),
        before,
        "a refused write changed something"
    );
    assert_eq!(store.count_stories().unwrap(), committed as i64);

    // Make room: grow the file system, as a person deleting other files would.
    let remounted = Command::new("mount")
        .args(["-o", "remount,size=16m"])
        .arg(mount_point.path())
        .status()
        .unwrap();
    assert!(remounted.success());
    store.create_story(&story(committed)).unwrap();
    drop(store);

    let reopened = Store::open(&data).unwrap();
    assert_eq!(reopened.open_report().damaged_database_moved_to, None);
    assert_eq!(reopened.count_stories().unwrap(), committed as i64 + 1);
}
