//! Optional components behind cargo features (all on by default): `kafka` (Kafka inputs and
//! outputs, Kafka dead letters, cluster history replication), `llm` (LLM case summaries) and
//! `pdf` (PDF reports). A build without one still parses the configuration keys of the
//! component, and refuses a configuration that uses it with [`missing`] at the key path
//! (`validate` and `run` share the check), instead of ignoring it.

/// A component a build may leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Kafka,
    Llm,
    Pdf,
}

impl Feature {
    /// The cargo feature's name.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Kafka => "kafka",
            Feature::Llm => "llm",
            Feature::Pdf => "pdf",
        }
    }

    fn shown(self) -> &'static str {
        match self {
            Feature::Kafka => "Kafka",
            Feature::Llm => "LLM",
            Feature::Pdf => "PDF",
        }
    }
}

/// What a user reads when a configuration or a command needs a component this build left out.
pub fn missing(feature: Feature) -> String {
    format!(
        "this build has no {} support: rebuild with --features {}",
        feature.shown(),
        feature.name()
    )
}

/// A component this build left out, as an error ([`missing`] is its message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", missing(*.0))]
pub struct Missing(pub Feature);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_component_and_the_cargo_flag() {
        assert_eq!(
            missing(Feature::Kafka),
            "this build has no Kafka support: rebuild with --features kafka"
        );
        assert_eq!(
            missing(Feature::Pdf),
            "this build has no PDF support: rebuild with --features pdf"
        );
    }
}
