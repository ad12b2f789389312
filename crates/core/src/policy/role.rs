//! Who may do what: the roles of SPEC 11, named by policies (reveal routes) and carried by tokens.

use serde::{Deserialize, Serialize};

/// Roles of SPEC 11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Dpo,
    Auditor,
    Service,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "dpo" => Some(Role::Dpo),
            "auditor" => Some(Role::Auditor),
            "service" => Some(Role::Service),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dpo => "dpo",
            Role::Auditor => "auditor",
            Role::Service => "service",
        }
    }
}
