//! Console sessions: a person's token exchanged for a session the browser
//! holds as a cookie, so the token is typed once and never travels again.
//!
//! The store keeps the SHA-256 of each session's secret, never the secret,
//! and the SHA-256 of the token it was opened with: a session is accepted
//! only while it is neither ended nor expired and its token still names an
//! active user, so revoking the token ends every session opened with it, on
//! every server. Sessions are not governance: opening and ending them
//! writes no log entry.

use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use verdict_model::Timestamp;
use verdict_store::{Op, Session};

use crate::users::token_hash;
use crate::{Core, CoreError, Principal};

/// Sessions that expired more than this long ago are forgotten when the
/// next one opens.
const FORGET_AFTER: i64 = 86_400;

/// The SHA-256 of a session's secret, as stored.
fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Core {
    /// Opens a session for the holder of `token` (named `user`) lasting
    /// `lifetime`; returns its secret, for the cookie, shown only now.
    pub async fn open_session(
        &self,
        user: &str,
        token: &str,
        lifetime: Duration,
    ) -> Result<(String, Session), CoreError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| CoreError::Internal(format!("no randomness: {e}")))?;
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = self.clock.now();
        let session = Session {
            id_hash: secret_hash(&secret),
            user: user.to_owned(),
            token_hash: token_hash(token),
            created_at: now,
            expires_at: now.plus(lifetime.as_secs().min(i64::MAX as u64) as i64),
            ended_at: None,
        };
        let mut tx = self.begin().await?;
        let forget = Op::PurgeSessions { before: Timestamp(now.seconds() - FORGET_AFTER) };
        tx.write_unlogged(&[forget, Op::PutSession(session.clone())]).await?;
        tx.commit().await?;
        Ok((secret, session))
    }

    /// The session whose secret is `secret`, if it is still accepted: not
    /// ended, not expired.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>, CoreError> {
        let now = self.clock.now();
        let session = self.reads().await?.session(&secret_hash(secret)).await?;
        Ok(session.filter(|s| s.ended_at.is_none() && now < s.expires_at))
    }

    /// Ends the session whose secret is `secret` (signing out); ending one
    /// already ended or unknown does nothing.
    pub async fn end_session(&self, secret: &str) -> Result<(), CoreError> {
        let mut tx = self.begin().await?;
        let at = tx.now();
        tx.write_unlogged(&[Op::EndSession { id_hash: secret_hash(secret), at }]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The active user whose token hashes to `token_hash`, as
    /// [`Core::authenticate`] would find it.
    pub fn principal_by_token_hash(&self, token_hash: &[u8; 32]) -> Option<Principal> {
        self.directory.load().get(token_hash).cloned()
    }
}
