//! Observers implemented by the shell (foreign traits) and the handles that end them.

use std::sync::{Arc, Mutex};

use tellus_core::Store;
use tellus_core::observe::Subscription;

use crate::records::StoryView;

/// Told whenever a story changes on this device (created, edited, ready, consent, notes,
/// tags, recordings). Called from a Rust thread; rapid changes are coalesced.
#[uniffi::export(with_foreign)]
pub trait StoryObserver: Send + Sync {
    fn story_changed(&self, story: StoryView);
}

/// Ends a subscription when cancelled or when the handle is freed (`close()` in Kotlin,
/// deinit in Swift). After `cancel` returns, the observer is not called again.
#[derive(uniffi::Object)]
pub struct SubscriptionHandle {
    subscription: Mutex<Option<Subscription>>,
}

impl SubscriptionHandle {
    pub(crate) fn new(subscription: Subscription) -> Self {
        SubscriptionHandle {
            subscription: Mutex::new(Some(subscription)),
        }
    }
}

#[uniffi::export]
impl SubscriptionHandle {
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
    let subscription = store.subscribe_story_changes(move |id| {
        // The story is read first, so no core lock is held while the shell's code runs.
        let story = reader.upgrade().and_then(|store| store.story(id).ok());
        if let Some(story) = story {
            observer.story_changed((&story).into());
        }
    });
    SubscriptionHandle::new(subscription)
}
