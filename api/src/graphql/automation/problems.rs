//! What keeps a rule from working, as its `problems` field tells it.

use async_graphql::SimpleObject;
use entity::Tenant;
use entity::entities::enums::Channel as StoredChannel;
use entity::entities::{automation_rule, campaign, message_template};
use entity::settings::{CLUB_URL_SETTING, EMAIL_SEND_KEYS, WHATSAPP_SEND_KEYS};
use entity::templates::TemplateReference;
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter};
use uuid::Uuid;
use workflow::automation::Action;
use workflow::{Channel, TemplateRef};

use super::stored;

/// What keeps a rule from working.
#[derive(SimpleObject, Clone)]
pub struct RuleProblem {
    /// `TEMPLATE_MISSING`, `TEMPLATE_NOT_APPROVED`, `CHANNEL_NOT_CONFIGURED`,
    /// `ACCESS_URL_NOT_SET`, `CHATWOOT_NOT_CONFIGURED`, `CAMPAIGN_NOT_ACTIVE`,
    /// `INACTIVE`.
    pub code: String,
    pub message: String,
}

/// The mirrored WhatsApp template a rule's message names.
pub(super) async fn whatsapp_template<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    template: &Option<TemplateRef>,
) -> Result<Option<message_template::Model>, entity::Error> {
    let reference = match template {
        Some(TemplateRef::Id(id)) => TemplateReference::Id(id),
        Some(TemplateRef::Name { name, language }) => TemplateReference::Name {
            name,
            language: language.as_deref(),
        },
        None => return Ok(None),
    };
    entity::templates::find_referenced(db, tenant, StoredChannel::Whatsapp, reference).await
}

pub(super) async fn problems<C: ConnectionTrait>(
    db: &C,
    rule: &automation_rule::Model,
) -> Result<Vec<RuleProblem>, entity::Error> {
    let tenant = Tenant::new(rule.workspace_id);
    let mut found = Vec::new();
    let mut problem = |code: &str, message: String| {
        found.push(RuleProblem {
            code: code.into(),
            message,
        })
    };
    if !rule.active {
        problem("INACTIVE", "the rule is turned off".into());
    }
    let Ok(spec) = workflow::automation::parse_rule(stored(rule)) else {
        return Ok(found);
    };
    for action in &spec.actions {
        match action {
            Action::SendMessage(message) => {
                let keys = match message.channel {
                    Channel::Whatsapp => WHATSAPP_SEND_KEYS,
                    Channel::Email => EMAIL_SEND_KEYS,
                    _ => &[],
                };
                if let Some(key) = entity::settings::first_unset(db, tenant, keys).await? {
                    problem(
                        "CHANNEL_NOT_CONFIGURED",
                        format!("{} has no credentials: set {key}", message.channel.name()),
                    );
                }
                let uses_access_url = message
                    .variables
                    .iter()
                    .map(|(_, text)| text.as_str())
                    .chain(message.body.as_deref())
                    .any(|t| {
                        t.contains("enrollment.access_url") || t.contains("enrollment.accessUrl")
                    });
                if uses_access_url
                    && entity::settings::first_unset(db, tenant, &[CLUB_URL_SETTING])
                        .await?
                        .is_some()
                {
                    problem(
                        "ACCESS_URL_NOT_SET",
                        format!(
                            "its message links to the course: set {CLUB_URL_SETTING} (the members area's address)"
                        ),
                    );
                }
                if message.channel != Channel::Whatsapp {
                    continue;
                }
                let Some(TemplateRef::Name { name, .. }) = &message.template else {
                    continue;
                };
                match whatsapp_template(db, tenant, &message.template).await? {
                    None => problem(
                        "TEMPLATE_MISSING",
                        format!(
                            "the WhatsApp template {name} is not mirrored from Meta: create it there and run syncTemplates"
                        ),
                    ),
                    Some(t) if !t.status.eq_ignore_ascii_case("APPROVED") => problem(
                        "TEMPLATE_NOT_APPROVED",
                        format!(
                            "the WhatsApp template {name} is {} at Meta, not APPROVED",
                            t.status
                        ),
                    ),
                    Some(_) => {}
                }
            }
            Action::StartCampaign { campaign_id } => {
                let active = match Uuid::parse_str(campaign_id) {
                    Ok(id) => tenant
                        .select::<campaign::Entity>()
                        .filter(campaign::Column::Id.eq(id))
                        .filter(campaign::Column::Status.eq(entity::enums::CampaignStatus::Active))
                        .one(db)
                        .await?
                        .is_some(),
                    Err(_) => false,
                };
                if !active {
                    problem(
                        "CAMPAIGN_NOT_ACTIVE",
                        format!("campaign {campaign_id} is not active: publish it"),
                    );
                }
            }
            Action::ChatwootLabels { .. } => {
                if let Some(key) =
                    entity::settings::first_unset(db, tenant, entity::chatwoot::API_SETTINGS)
                        .await?
                {
                    problem(
                        "CHATWOOT_NOT_CONFIGURED",
                        format!("its labels go to Chatwoot: set {key}"),
                    );
                }
            }
            Action::AddTags { .. } => {}
        }
    }
    Ok(found)
}
