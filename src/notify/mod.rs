//! Notifications (EHR → app): an HL7 v2 event becomes a FHIR message Bundle or an R4
//! Subscriptions Backport notification, lightweight or detailed, driven by the compiled
//! mapping [`Plan`](crate::mapping::Plan).
//!
//! [`translate`](translate::translate) runs the plan over one parsed message into an
//! [`Event`]; the `bundle` module shapes the event into the chosen form.

mod bundle;
pub mod structure;
pub mod translate;

pub(crate) use bundle::assemble;
pub use translate::{Event, TranslateOptions};

/// How much of each resource a notification carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// Identifiers, references between resources, the elements FHIR requires, and the event
    /// time: enough to query for the rest.
    Lightweight,
    /// Every mapped element.
    #[default]
    Detailed,
}

/// The shape of the notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A FHIR message Bundle: MessageHeader first, then the resources.
    #[default]
    Message,
    /// An R4 Subscriptions Backport notification: a `history` Bundle led by a SubscriptionStatus
    /// `Parameters`; `id-only` for lightweight, `full-resource` for detailed.
    Subscription,
}

/// Options for one notification.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// Lightweight or detailed.
    pub flavor: Flavor,
    /// Message Bundle or Backport notification.
    pub format: Format,
    /// The Subscription the notification answers (Backport form).
    pub subscription: String,
    /// Its topic's canonical URL (Backport form).
    pub topic: String,
    /// The event number (Backport form).
    pub event_number: u64,
}

impl Default for NotifyOptions {
    fn default() -> NotifyOptions {
        NotifyOptions {
            flavor: Flavor::Detailed,
            format: Format::Message,
            subscription: "Subscription/hl7fhir".to_string(),
            topic: "urn:hl7fhir:topic:hl7v2-event".to_string(),
            event_number: 1,
        }
    }
}
