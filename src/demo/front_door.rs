//! The demo reaches jornada the way integrations and people do: GraphQL,
//! Hotmart postbacks and WhatsApp webhooks, handed to the real HTTP router
//! in-process (no socket), with a token, a hottok and a signature like
//! anyone else's.

use anyhow::{Context, bail};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The router and the credentials the demo calls it with.
pub struct FrontDoor {
    pub router: axum::Router,
    /// `Bearer …` for GraphQL.
    pub bearer: String,
    /// The workspace's slug, as webhook URLs name it.
    pub slug: String,
    pub hottok: String,
    pub app_secret: String,
}

impl FrontDoor {
    async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Body::from(body))
            .context("building a request")?;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .context("the router answers")?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
            .await
            .context("reading an answer")?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// Runs a GraphQL operation; its `data`, or the errors as an error.
    pub async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body = serde_json::to_vec(&json!({"query": query, "variables": variables}))?;
        let (status, answer) = self
            .post("/graphql", &[("authorization", self.bearer.as_str())], body)
            .await?;
        if let Some(errors) = answer.get("errors") {
            // Error messages name no personal data (STYLE: codes and causes only).
            bail!("GraphQL refused the demo's call ({status}): {errors}");
        }
        Ok(answer["data"].clone())
    }

    /// Posts a Hotmart postback to `/webhooks/hotmart/{slug}` with the hottok.
    pub async fn post_hotmart(&self, body: &Value) -> anyhow::Result<()> {
        let path = format!("/webhooks/hotmart/{}", self.slug);
        let (status, answer) = self
            .post(
                &path,
                &[("x-hotmart-hottok", self.hottok.as_str())],
                serde_json::to_vec(body)?,
            )
            .await?;
        if status != StatusCode::OK {
            bail!(
                "the Hotmart receiver refused a postback ({status}): {}",
                answer["error"]
            );
        }
        Ok(())
    }

    /// Posts a WhatsApp webhook to `/webhooks/whatsapp/{slug}`, signed with
    /// the workspace's app secret as Meta signs it.
    pub async fn post_whatsapp(&self, body: &Value) -> anyhow::Result<()> {
        let path = format!("/webhooks/whatsapp/{}", self.slug);
        let bytes = serde_json::to_vec(body)?;
        let signature = entity::whatsapp::webhook::signature_header(&self.app_secret, &bytes);
        let (status, answer) = self
            .post(&path, &[("x-hub-signature-256", signature.as_str())], bytes)
            .await?;
        if status != StatusCode::OK {
            bail!("the WhatsApp receiver refused a webhook ({status}): {answer}");
        }
        Ok(())
    }
}
