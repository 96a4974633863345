//! Observers that cannot stall the work they watch. Each subscription has its own
//! delivery thread; publishing only stores the newest value for a key and wakes that
//! thread, so a slow observer sees fewer, newer values instead of slowing recording or
//! sync. Callbacks run without any lock of the publisher held, and none runs after
//! `Subscription::close` (or drop) has returned.
//!
//! Each call is guarded: an observer that fails (returns an error, or panics, e.g. a
//! shell's exception crossing the FFI) is logged and counted, and keeps receiving later
//! values; `Subscription::health` (failed calls, still active) says so. Never a silent
//! stop.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle, ThreadId};

/// Receives published values on the subscription's own thread. An error (or a panic)
/// is counted and logged; the observer keeps receiving.
pub trait Observer<V>: Send + Sync + 'static {
    fn notify(&self, value: V) -> Result<(), ObserverFailed>;
}

impl<V, F: Fn(V) + Send + Sync + 'static> Observer<V> for F {
    fn notify(&self, value: V) -> Result<(), ObserverFailed> {
        self(value);
        Ok(())
    }
}

/// An observer whose calls can fail (a shell's callback that throws).
pub struct Fallible<F>(pub F);

impl<V, F: Fn(V) -> Result<(), ObserverFailed> + Send + Sync + 'static> Observer<V>
    for Fallible<F>
{
    fn notify(&self, value: V) -> Result<(), ObserverFailed> {
        (self.0)(value)
    }
}

/// An observer's call failed. Carries no text: what a shell's exception says may hold
/// anything, and logs must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObserverFailed;

/// How a subscription is doing, shared by its delivery thread and its handle.
#[derive(Debug, Default)]
pub struct Health {
    failed_calls: AtomicU64,
    running: AtomicBool,
}

impl Health {
    /// Calls of the observer that failed (and were carried on past).
    pub fn failed_calls(&self) -> u64 {
        self.failed_calls.load(Ordering::Relaxed)
    }

    /// Whether values still reach the observer: false once closed, or if its delivery
    /// thread could not run.
    pub fn is_active(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }
}

struct Pending<K, V> {
    values: BTreeMap<K, V>,
    closed: bool,
}

struct Slot<K, V> {
    pending: Mutex<Pending<K, V>>,
    wake: Condvar,
    /// Held while a callback runs, so that `close` can wait for it to finish.
    delivering: Mutex<()>,
    health: Arc<Health>,
}

/// Where values are published, to every live subscription.
pub struct Hub<K, V> {
    slots: Mutex<Vec<Weak<Slot<K, V>>>>,
}

impl<K: Ord + Send + 'static, V: Clone + Send + 'static> Default for Hub<K, V> {
    fn default() -> Self {
        Hub {
            slots: Mutex::new(Vec::new()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<K: Ord + Send + 'static, V: Clone + Send + 'static> Hub<K, V> {
    /// Publishes `value` under `key`; an undelivered value of the same key is replaced.
    /// Never blocks on an observer.
    pub fn publish(&self, key: K, value: V)
    where
        K: Clone,
    {
        let mut slots = lock(&self.slots);
        slots.retain(|weak| weak.strong_count() > 0);
        for slot in slots.iter().filter_map(Weak::upgrade) {
            let mut pending = lock(&slot.pending);
            if !pending.closed {
                pending.values.insert(key.clone(), value.clone());
                slot.wake.notify_one();
            }
        }
    }

    pub fn subscribe(&self, observer: impl Observer<V>) -> Subscription {
        let slot = Arc::new(Slot {
            pending: Mutex::new(Pending {
                values: BTreeMap::new(),
                closed: false,
            }),
            wake: Condvar::new(),
            delivering: Mutex::new(()),
            health: Arc::new(Health::default()),
        });
        lock(&self.slots).push(Arc::downgrade(&slot));
        let health = slot.health.clone();
        health.running.store(true, Ordering::Relaxed);
        let worker = slot.clone();
        let thread = thread::Builder::new()
            .name("tellus-observer".into())
            .spawn(move || {
                deliver(&worker, &observer);
                worker.health.running.store(false, Ordering::Relaxed);
            })
            .ok();
        if thread.is_none() {
            // No thread, no deliveries: the handle says so rather than looking alive.
            tracing::error!("an observer's delivery thread could not be started");
            health.running.store(false, Ordering::Relaxed);
        }
        let thread_id = thread.as_ref().map(|t| t.thread().id());
        Subscription {
            closer: Some(Box::new(move || close(&slot, thread_id))),
            thread,
            health,
        }
    }

    pub fn subscriber_count(&self) -> usize {
        lock(&self.slots)
            .iter()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

fn deliver<K, V: 'static>(slot: &Slot<K, V>, observer: &dyn Observer<V>) {
    loop {
        let batch = {
            let mut pending = lock(&slot.pending);
            while pending.values.is_empty() && !pending.closed {
                pending = slot.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
            }
            if pending.closed {
                return;
            }
            std::mem::take(&mut pending.values)
        };
        for value in batch.into_values() {
            let _delivering = lock(&slot.delivering);
            if lock(&slot.pending).closed {
                return;
            }
            // A failing observer (an error, or a panic such as a shell's exception
            // crossing the FFI) is counted and logged, and keeps receiving.
            let called = std::panic::catch_unwind(AssertUnwindSafe(|| observer.notify(value)));
            if !matches!(called, Ok(Ok(()))) {
                let failed = slot.health.failed_calls.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(
                    failed_calls = failed,
                    "an observer failed on a value; it keeps receiving later ones"
                );
            }
        }
    }
}

fn close<K, V>(slot: &Slot<K, V>, delivery_thread: Option<ThreadId>) {
    {
        let mut pending = lock(&slot.pending);
        pending.closed = true;
        pending.values.clear();
        slot.wake.notify_all();
    }
    // Wait for a callback in progress, unless this *is* that callback closing itself.
    if delivery_thread != Some(thread::current().id()) {
        drop(lock(&slot.delivering));
    }
}

/// A live subscription. Closing it (or dropping it) stops deliveries: once `close`
/// returns, the observer is not called again.
pub struct Subscription {
    closer: Option<Box<dyn FnOnce() + Send + Sync>>,
    thread: Option<JoinHandle<()>>,
    health: Arc<Health>,
}

impl Subscription {
    /// How it is doing; stays readable after the subscription is gone.
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    pub fn close(&mut self) {
        if let Some(closer) = self.closer.take() {
            closer();
        }
        self.health.running.store(false, Ordering::Relaxed);
        // A callback that closes its own subscription must not join its own thread.
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn values_arrive_on_another_thread() {
        let hub: Hub<u32, u32> = Hub::default();
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let _sub = hub.subscribe(move |v: u32| {
            lock(&tx).send((v, thread::current().id())).unwrap();
        });
        hub.publish(1, 10);
        let (value, thread_id) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(value, 10);
        assert_ne!(thread_id, thread::current().id());
    }

    #[test]
    fn a_slow_observer_does_not_slow_the_publisher_and_sees_the_newest_value() {
        let hub: Hub<&'static str, u32> = Hub::default();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (seen_tx, seen_rx) = mpsc::channel();
        let gate = Mutex::new((started_tx, release_rx, seen_tx));
        let _sub = hub.subscribe(move |v: u32| {
            let gate = lock(&gate);
            gate.2.send(v).unwrap();
            if v == 0 {
                gate.0.send(()).unwrap();
                gate.1.recv().unwrap(); // blocked until the publisher has finished
            }
        });
        hub.publish("level", 0);
        started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        // The observer is blocked until this loop is over: publishing must not wait on it.
        for v in 1..=100_000 {
            hub.publish("level", v);
        }
        release_tx.send(()).unwrap();
        let mut seen = vec![seen_rx.recv_timeout(Duration::from_secs(5)).unwrap()];
        seen.push(seen_rx.recv_timeout(Duration::from_secs(5)).unwrap());
        assert_eq!(seen, [0, 100_000], "coalesced to the newest value");
    }

    #[test]
    fn nothing_arrives_after_close_returns() {
        let hub: Hub<u32, u32> = Hub::default();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let c = calls.clone();
        let mut sub = hub.subscribe(move |v: u32| lock(&c).push(v));
        let publisher = {
            let hub = Arc::new(hub);
            let h = hub.clone();
            let handle = thread::spawn(move || {
                for v in 0..200_000u32 {
                    h.publish(v % 7, v);
                }
            });
            while lock(&calls).is_empty() {
                thread::yield_now();
            }
            sub.close();
            // Counted here, on the test's thread: a panic on the delivery thread would be
            // swallowed by close's join, so the check must not live in the callback.
            let seen_at_close = lock(&calls).len();
            handle.join().unwrap();
            assert_eq!(lock(&calls).len(), seen_at_close, "called after close");
            hub
        };
        assert_eq!(publisher.subscriber_count(), 0);
    }

    #[test]
    fn an_observer_that_fails_or_panics_keeps_receiving_and_its_failures_are_counted() {
        let hub: Hub<u32, u32> = Hub::default();
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let sub = hub.subscribe(Fallible(move |v: u32| {
            lock(&tx).send(v).unwrap();
            match v {
                1 => panic!("a shell's exception (test)"),
                2 => Err(ObserverFailed),
                _ => Ok(()),
            }
        }));
        for v in 1..=3 {
            hub.publish(v, v);
            assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), v);
        }
        let health = sub.health();
        // The third call returned before its count could be read: wait for the count.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while health.failed_calls() < 2 && std::time::Instant::now() < deadline {
            thread::yield_now();
        }
        assert_eq!(health.failed_calls(), 2);
        assert!(health.is_active());
        drop(sub);
        assert!(!health.is_active());
    }

    #[test]
    fn an_observer_may_close_its_own_subscription() {
        let hub: Hub<u32, u32> = Hub::default();
        let holder: Arc<Mutex<Option<Subscription>>> = Arc::new(Mutex::new(None));
        let (tx, rx) = mpsc::channel();
        let h = holder.clone();
        let tx = Mutex::new(tx);
        let sub = hub.subscribe(move |_v: u32| {
            if let Some(mut me) = lock(&h).take() {
                me.close();
                lock(&tx).send(()).unwrap();
            }
        });
        *lock(&holder) = Some(sub);
        hub.publish(1, 1);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}
