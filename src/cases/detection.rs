//! The contract between detection and the case builder: a [`Detection`] is an event with
//! every reason it is interesting ([`Hit`]: a rule, a correlation, a threat-feed listing), as
//! the pipeline's correlator hands it to [`super::CaseBook`].

use std::sync::Arc;

use crate::detect::{CorrelationMatch, Level, RuleMeta};
use crate::event::Event;
use crate::flow::ack::Ack;
use crate::verdict::IndicatorRef;

/// An event and what it matched, as the case builder and `detect` see it.
#[derive(Debug, Clone)]
pub struct Detection {
    pub event: Arc<Event>,
    pub hits: Vec<Hit>,
    /// External indicators of the event (addresses, domains, hashes …), for enrichment and
    /// history correlation; internal and special-purpose ones are left out.
    pub indicators: Vec<IndicatorRef>,
    /// The source record's acknowledgement, released when the case verdict is delivered.
    pub ack: Ack,
}

/// One reason an event is interesting.
#[derive(Debug, Clone)]
pub enum Hit {
    /// A single-event rule matched this event.
    Rule(Arc<RuleMeta>),
    /// A correlation rule fired with this event as its last contributor.
    Correlation(CorrelationMatch),
    /// An indicator of this event is listed in an offline threat feed. Alone it still opens a
    /// case, where the event is kept as unclassified evidence.
    Feed {
        indicator: IndicatorRef,
        feed: String,
        level: Level,
    },
}
