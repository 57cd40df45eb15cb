//! One module per table; see `migration/` for the schema itself.

/// An entity's `Relation` enum and its `RelationTrait`: each variant
/// `belongs_to` a parent through a foreign key column (to the parent's `id`,
/// with its `ON DELETE` action) or `has_many` children.
macro_rules! relations {
    ($($variant:ident: $kind:ident $module:ident $(by $column:ident, on delete $action:ident)?;)*) => {
        #[derive(Copy, Clone, Debug, EnumIter)]
        pub enum Relation {
            $($variant,)*
        }

        impl RelationTrait for Relation {
            fn def(&self) -> RelationDef {
                match self {
                    $(Self::$variant => relations!(@def $kind $module $($column $action)?),)*
                }
            }
        }
    };
    (@def belongs_to $module:ident $column:ident $action:ident) => {
        Entity::belongs_to(super::$module::Entity)
            .from(Column::$column)
            .to(super::$module::Column::Id)
            .on_delete(ForeignKeyAction::$action)
            .into()
    };
    (@def has_many $module:ident) => {
        Entity::has_many(super::$module::Entity).into()
    };
}

/// `impl Related<super::$module::Entity> for Entity` through
/// `Relation::$variant`, for each `$module => $variant` pair: an entity's
/// direct relations, as its `Relation` enum declares them.
macro_rules! related {
    ($($module:ident => $variant:ident),* $(,)?) => {
        $(
            impl Related<super::$module::Entity> for Entity {
                fn to() -> RelationDef {
                    Relation::$variant.def()
                }
            }
        )*
    };
}

pub mod analytics_rollup;
pub mod analytics_snapshot;
pub mod automation_rule;
pub mod background_job;
pub mod campaign;
pub mod campaign_execution;
pub mod campaign_recipient;
pub mod campaign_version;
pub mod cohort_day;
pub mod cohort_member;
pub mod conversation_tag;
pub mod customer;
pub mod customer_activity;
pub mod customer_note;
pub mod dispatch_item;
pub mod domain_event;
pub mod domain_event_delivery;
pub mod enrollment;
pub mod enums;
pub mod lesson;
pub mod lesson_progress;
pub mod message;
pub mod message_template;
pub mod module;
pub mod mrr_movement;
pub mod offer;
pub mod product;
pub mod revenue_day;
pub mod setting;
pub mod subscription;
pub mod subscription_change;
pub mod target_group_mapping;
pub mod tracked_link;
pub mod transaction;
pub mod webhook_event;
pub mod workspace;

/// Entities under their domain names, e.g. `Customer::find()`.
pub mod prelude {
    pub use super::analytics_rollup::Entity as AnalyticsRollup;
    pub use super::analytics_snapshot::Entity as AnalyticsSnapshot;
    pub use super::automation_rule::Entity as AutomationRule;
    pub use super::background_job::Entity as BackgroundJob;
    pub use super::campaign::Entity as Campaign;
    pub use super::campaign_execution::Entity as CampaignExecution;
    pub use super::campaign_recipient::Entity as CampaignRecipient;
    pub use super::campaign_version::Entity as CampaignVersion;
    pub use super::cohort_day::Entity as CohortDay;
    pub use super::cohort_member::Entity as CohortMember;
    pub use super::conversation_tag::Entity as ConversationTag;
    pub use super::customer::Entity as Customer;
    pub use super::customer_activity::Entity as CustomerActivity;
    pub use super::customer_note::Entity as CustomerNote;
    pub use super::dispatch_item::Entity as DispatchItem;
    pub use super::domain_event::Entity as DomainEvent;
    pub use super::domain_event_delivery::Entity as DomainEventDelivery;
    pub use super::enrollment::Entity as Enrollment;
    pub use super::lesson::Entity as Lesson;
    pub use super::lesson_progress::Entity as LessonProgress;
    pub use super::message::Entity as Message;
    pub use super::message_template::Entity as MessageTemplate;
    pub use super::module::Entity as Module;
    pub use super::mrr_movement::Entity as MrrMovement;
    pub use super::offer::Entity as Offer;
    pub use super::product::Entity as Product;
    pub use super::revenue_day::Entity as RevenueDay;
    pub use super::setting::Entity as Setting;
    pub use super::subscription::Entity as Subscription;
    pub use super::subscription_change::Entity as SubscriptionChange;
    pub use super::target_group_mapping::Entity as TargetGroupMapping;
    pub use super::tracked_link::Entity as TrackedLink;
    pub use super::transaction::Entity as Transaction;
    pub use super::webhook_event::Entity as WebhookEvent;
    pub use super::workspace::Entity as Workspace;
}
