//! Observers implemented by the shell (foreign traits) and the handles that end them.

use std::sync::{Arc, Mutex};

use tellus_core::Store;
use tellus_core::observe::{Fallible, Health, ObserverFailed, Subscription};

use crate::error::ObserverError;
use crate::records::StoryView;

/// Told whenever a story changes on this device (created, edited, ready, consent, notes,
/// tags, recordings). Called from a Rust thread; rapid changes are coalesced. An
/// exception is counted on the handle and the observer keeps receiving.
#[uniffi::export(with_foreign)]
pub trait StoryObserver: Send + Sync {
    fn story_changed(&self, story: StoryView) -> Result<(), ObserverError>;
}

/// A shell's observer call as the core's hub sees it: an exception is a failed call.
pub(crate) fn guarded<V>(
    call: impl Fn(V) -> Result<(), ObserverError> + Send + Sync + 'static,
) -> Fallible<impl Fn(V) -> Result<(), ObserverFailed> + Send + Sync + 'static> {
    Fallible(move |value| call(value).map_err(|_| ObserverFailed))
}

/// Ends a subscription when cancelled or when the handle is freed (`close()` in Kotlin,
/// deinit in Swift). After `cancel` returns, the observer is not called again. It also
/// says how the subscription is doing: an observer that throws keeps receiving, and
/// `failed_calls` counts its exceptions; `is_active` is false once it no longer
/// receives anything (cancelled, or its thread could not start): never a silent stop.
#[derive(uniffi::Object)]
pub struct SubscriptionHandle {
    subscription: Mutex<Option<Subscription>>,
    health: Arc<Health>,
}

impl SubscriptionHandle {
    pub(crate) fn new(subscription: Subscription) -> Self {
        SubscriptionHandle {
            health: subscription.health(),
            subscription: Mutex::new(Some(subscription)),
        }
    }
}

#[uniffi::export]
impl SubscriptionHandle {
    /// How many calls of the observer threw (each was logged; later values still came).
    pub fn failed_calls(&self) -> u64 {
        self.health.failed_calls()
    }

    /// Whether values still reach the observer.
    pub fn is_active(&self) -> bool {
        self.health.is_active()
    }

    pub fn cancel(&self) {
        let taken = self
            .subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(taken);
    }
}

pub(crate) fn observe_stories(
    store: &Arc<Store>,
    observer: Arc<dyn StoryObserver>,
) -> SubscriptionHandle {
    let reader = Arc::downgrade(store);
    let subscription = store.subscribe_story_changes(guarded(move |id| {
        // The story is read first, so no core lock is held while the shell's code runs.
        let story = reader.upgrade().and_then(|store| store.story(id).ok());
        match story {
            Some(story) => observer.story_changed((&story).into()),
            None => Ok(()),
        }
    }));
    SubscriptionHandle::new(subscription)
}
