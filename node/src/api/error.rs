//! API errors: one JSON shape, `{"error": {"code", "message", "hint"}}`, with an HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::NodeError;

/// Why a request failed, as the client sees it.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`bad_request`, `not_found`, …).
    pub code: &'static str,
    /// One line saying what was wrong.
    pub message: String,
    /// One line saying what to do.
    pub hint: String,
}

impl ApiError {
    /// A request the caller can fix.
    pub fn bad(message: impl Into<String>, hint: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// Something that is not there.
    pub fn not_found(message: impl Into<String>, hint: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// A request that is well formed but not allowed for this node's member.
    pub fn refused(message: impl Into<String>, hint: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            code: "refused",
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The command needs the co-op key, which this node does not hold (it is kept encrypted,
    /// or elsewhere): a client that keeps it may bring it in (`PUT /v1/coop/key`) and retry.
    pub fn coop_key_needed(message: impl Into<String>, hint: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            code: "coop_key_needed",
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// A field that did not parse.
    pub fn field(name: &str, e: impl std::fmt::Display) -> ApiError {
        ApiError::bad(
            format!("{name}: {e}"),
            "see docs/API.md for the accepted forms",
        )
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        let message = e.to_string();
        match e {
            NodeError::NotFound(_) => ApiError::not_found(
                message,
                "list records with `minga list`, or wait for them with --wait",
            ),
            NodeError::Ambiguous(_) => ApiError::bad(message, "give more digits of the id"),
            NodeError::UnknownCoop(_) => {
                ApiError::not_found(message, "trust its genesis with `minga coop trust FILE`")
            }
            NodeError::TooManyEdits(_) => ApiError::bad(message, "split the batch"),
            NodeError::Ledger(crate::LedgerError::Entry(minga_protocol::EntryError::Forked {
                ..
            })) => ApiError::refused(
                format!("the ledger refused the write: {message}"),
                "this member key was used on another machine with this device id: treat the key as \
                 copied, have an admin revoke it, and write from a new key",
            ),
            NodeError::Ledger(crate::LedgerError::Entry(_)) => ApiError::refused(
                format!("the ledger refused the write: {message}"),
                "check this member's certificate with `minga member list`",
            ),
            NodeError::Stopped => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "stopped",
                message,
                hint: "the node is shutting down".into(),
            },
            NodeError::Store(_) | NodeError::Ledger(_) | NodeError::Network(_) => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "internal",
                message,
                hint: "see the node's log".into(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message, "hint": self.hint }
        });
        (self.status, Json(body)).into_response()
    }
}
