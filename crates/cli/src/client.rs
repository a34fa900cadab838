//! A small client for the management API, for the CLI's remote commands.

use std::path::Path;

use anyhow::{Context, anyhow};
use serde::Serialize;
use serde_json::Value;

/// Talks to one verdict server with one token.
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for `server`, with `token` or else the admin token in `data`.
    /// `ca_file`: a private CA's certificates to trust for HTTPS.
    pub fn new(server: &str, token: Option<String>, data: &Path, ca_file: Option<&Path>) -> anyhow::Result<Client> {
        let token = match token {
            Some(t) => t,
            None => {
                let path = data.join("admin.token");
                std::fs::read_to_string(&path)
                    .with_context(|| format!("no --token given and cannot read {}", path.display()))?
                    .trim()
                    .to_owned()
            }
        };
        let http = verdict_pep::tls::client_builder(ca_file)?.build().context("cannot set up HTTPS")?;
        Ok(Client { base: server.trim_end_matches('/').to_owned(), token, http })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.bearer_auth(&self.token).send().await.with_context(|| {
            format!(
                "cannot reach the verdict server at {}; is it running? (--server; --ca-file for a private CA)",
                self.base
            )
        })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let code = body["error"]["code"].as_str().unwrap_or("unknown");
        let message = body["error"]["message"].as_str().unwrap_or("the server gave no reason");
        Err(anyhow!("{message} ({code}, HTTP {})", status.as_u16()))
    }

    /// GET a path whose answer is text (receipts, CSV).
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let response =
            self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.with_context(|| {
                format!(
                    "cannot reach the verdict server at {}; is it running? (--server; --ca-file for a private CA)",
                    self.base
                )
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(text);
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("unknown");
        let message = body["error"]["message"].as_str().unwrap_or("the server gave no reason");
        Err(anyhow!("{message} ({code}, HTTP {})", status.as_u16()))
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    /// POST JSON to a path.
    pub async fn post(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body)).await
    }

    /// POST raw bytes with a content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }
}
