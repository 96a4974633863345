fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}
fn main() {
    let dir = tempfile::tempdir().unwrap();
    tellus_core::Store::open(dir.path())
        .unwrap()
        .set_project(&tellus_core::model::sample_project())
        .unwrap();
    let cycle = || {
        let s = tellus_core::Store::open(dir.path()).unwrap();
        let mut sub = s.subscribe_story_changes(|_id| {});
        sub.close();
        s.project().unwrap();
    };
    for _ in 0..2000 {
        cycle()
    }
    let a = rss();
    for _ in 0..8000 {
        cycle()
    }
    println!("rust: {} kB -> {} kB", a, rss());
}
