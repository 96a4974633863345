//! The audio callback's body, `CaptureSink::push`, proved allocation-free and lock-free
//! by measurement: a counting global allocator sees no allocation or free on the
//! callback's thread, and the thread never blocks (no voluntary context switch) while
//! another thread hammers every operation of the same recorder that takes a lock.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use tellus_core::Store;
use tellus_core::audio::{
    AudioFormat, AudioSource, CaptureSink, Recorder, RecorderOptions, RunningStream, StreamFault,
};
use tellus_core::model::{NewStory, sample_project};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if WATCHED.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct HandDriven(mpsc::Sender<CaptureSink>);
struct Idle;
impl RunningStream for Idle {}
impl AudioSource for HandDriven {
    fn describe(&self) -> String {
        "hand-driven".into()
    }
    fn format(&self) -> AudioFormat {
        AudioFormat {
            sample_rate: 48_000,
            channels: 1,
        }
    }
    fn start(
        &mut self,
        sink: CaptureSink,
        _: StreamFault,
    ) -> tellus_core::Result<Box<dyn RunningStream>> {
        self.0.send(sink).unwrap();
        Ok(Box::new(Idle))
    }
}

/// This thread's voluntary context switches: each is a wait (a lock, a sleep, I/O).
fn voluntary_switches() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_callback_body_neither_allocates_nor_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_project(&sample_project()).unwrap();
    let story = store
        .create_story(&NewStory {
            title: "Real time".into(),
            ..Default::default()
        })
        .unwrap()
        .id;
    let (tx, rx) = mpsc::channel();
    let recorder = Arc::new(
        Recorder::start(
            Arc::new(store),
            story,
            Box::new(HandDriven(tx)),
            RecorderOptions {
                // Silent between the test's pushes by design: not a stall.
                stall_timeout: Duration::from_secs(3_600),
                ..RecorderOptions::default()
            },
        )
        .unwrap(),
    );
    let mut sink = rx.recv().unwrap();

    // Another thread takes every lock the recorder has, as fast as it can.
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let busy = {
        let (recorder, stop, rounds) = (recorder.clone(), stop.clone(), rounds.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = recorder.stats();
                recorder.pause().unwrap();
                recorder.resume().unwrap();
                rounds.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    // Stereo f32 blocks, as a phone's callback gets them, converted and down-mixed.
    let block: Vec<f32> = (0..960).map(|i| (i as f32 / 960.0) - 0.5).collect();
    let frames_per_block = block.len() as u64 / 2;
    // Warm up first, so that a first touch of the ring's pages or of this code (a page
    // fault that waits for the disk on a loaded machine) is not counted as blocking.
    for _ in 0..2_000 {
        sink.push(&block, 2, |s| (s * 32767.0) as i16);
    }
    let mut calls = 2_000u64;
    let rounds_before = rounds.load(Ordering::Relaxed);
    let switches_before = voluntary_switches();
    let started = Instant::now();
    WATCHED.with(|w| w.set(true));
    // Keep calling until the locking thread has really run alongside (on a loaded
    // machine it may get no CPU for a while), within a deadline that fails clearly.
    let mut pushed = 0u64;
    while pushed < 20_000 || rounds.load(Ordering::Relaxed) < rounds_before + 1_000 {
        sink.push(&block, 2, |s| (s * 32767.0) as i16);
        pushed += 1;
        if pushed.is_multiple_of(1_024) && started.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    WATCHED.with(|w| w.set(false));
    let switches_after = voluntary_switches();
    calls += pushed;
    let rounds = rounds.load(Ordering::Relaxed) - rounds_before;
    stop.store(true, Ordering::Relaxed);
    busy.join().unwrap();

    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "the callback allocated"
    );
    assert_eq!(
        switches_after, switches_before,
        "the callback thread blocked ({calls} calls, {rounds} rounds of locking alongside)"
    );
    assert!(
        rounds >= 1_000,
        "the locking thread ran only {rounds} rounds alongside in 120 s"
    );
    // And the callbacks did their work: every frame is either in the ring, counted as
    // paused, or counted as dropped because the ring was full.
    let stats = recorder.stats();
    assert!(stats.frames_captured > 0);
    assert_eq!(
        stats.session.as_millis(),
        (calls * frames_per_block) * 1000 / 48_000
    );
    recorder.stop().unwrap();
}
