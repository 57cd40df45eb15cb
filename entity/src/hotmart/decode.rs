//! From a stored envelope to a typed [`HotmartEvent`].

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use super::*;

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// Types a stored envelope. Unknown event names give [`HotmartEvent::Unknown`].
pub fn decode(envelope: &Envelope) -> Result<HotmartEvent, DecodeError> {
    let kind = EventKind::parse(&envelope.event);
    let data = &envelope.data;
    let occurred_at = envelope.creation_date;
    Ok(match kind {
        EventKind::PurchaseApproved
        | EventKind::PurchaseComplete
        | EventKind::PurchaseCanceled
        | EventKind::PurchaseBilletPrinted
        | EventKind::PurchaseProtest
        | EventKind::PurchaseRefunded
        | EventKind::PurchaseChargeback
        | EventKind::PurchaseExpired
        | EventKind::PurchaseDelayed => {
            HotmartEvent::Purchase(Box::new(decode_purchase(kind, occurred_at, data)?))
        }
        EventKind::PurchaseOutOfShoppingCart => HotmartEvent::CartAbandoned(CartAbandoned {
            occurred_at,
            product: Product::from_value(at(data, "product")),
            buyer: Contact {
                email: required_email(data, "buyer.email")?,
                name: person_name(data, "buyer"),
                phone: id_at(data, "buyer.phone").or_else(|| checkout_phone(data)),
            },
            offer_code: id_at(data, "offer.code"),
        }),
        EventKind::SubscriptionCancellation => {
            let code = required_code(data, &["subscriber.code", "subscription.subscriber.code"])?;
            HotmartEvent::SubscriptionCancelled(SubscriptionCancelled {
                occurred_at: occurred_at.or_else(|| time_at(data, "cancellation_date")),
                subscriber: Subscriber {
                    code,
                    email: optional_email(data, "subscriber.email"),
                    name: text_at(data, "subscriber.name"),
                    phone: at(data, "subscriber.phone").and_then(split_phone),
                },
                subscription_id: id_at(data, "subscription.id"),
                product: Product::from_value(at(data, "product")),
                plan: Plan::from_value(at(data, "subscription.plan")),
                cancellation_date: time_at(data, "cancellation_date"),
                date_next_charge: time_at(data, "date_next_charge"),
                actual_recurrence_value: at(data, "actual_recurrence_value").and_then(decimal),
            })
        }
        EventKind::SwitchPlan => {
            let code = required_code(
                data,
                &[
                    "subscription.subscriber_code",
                    "subscription.subscriber.code",
                    "subscriber.code",
                ],
            )?;
            HotmartEvent::PlanSwitched(PlanSwitched {
                occurred_at: occurred_at.or_else(|| time_at(data, "switch_plan_date")),
                subscriber: Subscriber {
                    code,
                    email: optional_email(data, "subscription.user.email"),
                    name: text_at(data, "subscription.user.name"),
                    phone: None,
                },
                switched_at: time_at(data, "switch_plan_date"),
                new_plan: current_plan(data),
                status: text_at(data, "subscription.status").map(|s| SubscriptionStatus::parse(&s)),
                date_next_charge: time_at(data, "subscription.date_next_charge"),
                product: Product::from_value(
                    at(data, "subscription.product").or_else(|| at(data, "product")),
                ),
            })
        }
        EventKind::UpdateSubscriptionChargeDate => {
            let code = required_code(data, &["subscriber.code", "subscription.subscriber_code"])?;
            HotmartEvent::ChargeDateChanged(ChargeDateChanged {
                occurred_at,
                subscriber: Subscriber {
                    code,
                    email: optional_email(data, "subscriber.email"),
                    name: text_at(data, "subscriber.name"),
                    phone: None,
                },
                product: Product::from_value(
                    at(data, "subscription.product").or_else(|| at(data, "product")),
                ),
                new_charge_day: at(data, "subscription.new_charge_day").and_then(charge_day),
                old_charge_day: at(data, "subscription.old_charge_day").and_then(charge_day),
                date_next_charge: time_at(data, "subscription.date_next_charge"),
                status: text_at(data, "subscription.status").map(|s| SubscriptionStatus::parse(&s)),
                plan: Plan::from_value(at(data, "plan"))
                    .or_else(|| Plan::from_value(at(data, "subscription.plan"))),
            })
        }
        EventKind::ClubFirstAccess => HotmartEvent::FirstAccess(FirstAccess {
            occurred_at,
            product: Product::from_value(at(data, "product")),
            user: member(data)?,
        }),
        EventKind::ClubModuleCompleted => {
            let module = Module {
                id: id_at(data, "module.id"),
                name: text_at(data, "module.name"),
            };
            if module.id.is_none() && module.name.is_none() {
                return Err(DecodeError::Missing("module.id"));
            }
            HotmartEvent::ModuleCompleted(ModuleCompleted {
                occurred_at,
                product: Product::from_value(at(data, "product")),
                user: member(data)?,
                module,
            })
        }
        EventKind::OrderFulfillment => HotmartEvent::OrderFulfillment(OrderFulfillment {
            occurred_at,
            product: Product::from_value(at(data, "product")),
            email: optional_email(data, "buyer.email")
                .or_else(|| optional_email(data, "user.email")),
            transaction: id_at(data, "purchase.transaction").or_else(|| id_at(data, "transaction")),
        }),
        EventKind::Unknown(event) => HotmartEvent::Unknown(event),
    })
}

fn decode_purchase(
    kind: EventKind,
    occurred_at: Option<DateTime<Utc>>,
    data: &Value,
) -> Result<Purchase, DecodeError> {
    let buyer = Buyer {
        email: required_email(data, "buyer.email")?,
        name: person_name(data, "buyer"),
        phone: checkout_phone(data).or_else(|| id_at(data, "buyer.phone")),
        document: id_at(data, "buyer.document"),
        document_type: text_at(data, "buyer.document_type").map(upper),
    };
    let transaction = required_code(data, &["purchase.transaction"])?;
    let status = text_at(data, "purchase.status")
        .map(|s| PurchaseStatus::parse(&s))
        .or_else(|| kind.implied_purchase_status())
        .ok_or(DecodeError::Missing("purchase.status"))?;
    let (amount, currency) = purchase_price(data);
    let links = PaymentLinks::find(at(data, "purchase"));
    let is_bump = at(data, "purchase.order_bump.is_order_bump") != Some(&Value::Bool(false));
    Ok(Purchase {
        kind,
        occurred_at,
        product: Product::from_value(at(data, "product")),
        buyer,
        transaction,
        status,
        order_date: time_at(data, "purchase.order_date"),
        approved_date: time_at(data, "purchase.approved_date"),
        amount,
        currency,
        payment_type: text_at(data, "purchase.payment.type").map(upper),
        payment_method: text_at(data, "purchase.payment.method").map(upper),
        installments: at(data, "purchase.payment.installments_number").and_then(count),
        billet_url: links.billet_url,
        billet_barcode: links.billet_barcode,
        pix_code: links.pix_emv.or(links.pix_other),
        pix_url: links.pix_url,
        offer_code: id_at(data, "purchase.offer.code"),
        coupon: id_at(data, "purchase.offer.coupon_code"),
        // REST spells it `recurrency_number`; accept both in case a relay mixes them.
        recurrence_number: at(data, "purchase.recurrence_number")
            .or_else(|| at(data, "purchase.recurrency_number"))
            .and_then(count),
        origin: Origin {
            src: text_at(data, "purchase.origin.src"),
            sck: text_at(data, "purchase.origin.sck"),
            xcod: text_at(data, "purchase.origin.xcod"),
        },
        order_bump_parent_transaction: id_at(
            data,
            "purchase.order_bump.parent_purchase_transaction",
        )
        .filter(|_| is_bump),
        subscription: purchase_subscription(data),
        commission_type: commission_type(data),
    })
}

fn required_email(data: &Value, path: &'static str) -> Result<String, DecodeError> {
    let raw = text_at(data, path).ok_or(DecodeError::Missing(path))?;
    crate::customers::normalize_email(&raw).map_err(|_| DecodeError::Invalid {
        field: path,
        reason: "not an e-mail address",
    })
}

/// Where the subscriber code identifies the customer, a bad e-mail is dropped
/// rather than failing the event.
fn optional_email(data: &Value, path: &str) -> Option<String> {
    crate::customers::normalize_email(&text_at(data, path)?).ok()
}

/// The first of `paths` holding a code; the error names the first path.
fn required_code(data: &Value, paths: &[&'static str]) -> Result<String, DecodeError> {
    let primary = paths.first().copied().unwrap_or("");
    for path in paths {
        if let Some(code) = id_at(data, path) {
            if code.chars().count() > MAX_CODE_CHARS {
                return Err(DecodeError::Invalid {
                    field: path,
                    reason: "longer than 64 characters",
                });
            }
            return Ok(code);
        }
    }
    Err(DecodeError::Missing(primary))
}

fn member(data: &Value) -> Result<Contact, DecodeError> {
    Ok(Contact {
        email: required_email(data, "user.email")?,
        name: text_at(data, "user.name"),
        phone: None,
    })
}

/// `name`, else `first_name` and `last_name` joined.
fn person_name(data: &Value, person: &str) -> Option<String> {
    let person = at(data, person)?;
    text_at(person, "name").or_else(|| {
        let parts: Vec<String> = ["first_name", "last_name"]
            .iter()
            .filter_map(|key| text_at(person, key))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

fn join_phone(prefix: Option<String>, number: Option<String>) -> Option<String> {
    match (prefix, number) {
        (Some(prefix), Some(number)) => Some(format!("{prefix} {number}")),
        (_, number) => number,
    }
}

fn checkout_phone(data: &Value) -> Option<String> {
    join_phone(
        id_at(data, "buyer.checkout_phone_code"),
        id_at(data, "buyer.checkout_phone"),
    )
}

/// `{dddCell, cell, dddPhone, phone}`, mobile first; a plain string is taken as is.
fn split_phone(phone: &Value) -> Option<String> {
    if !phone.is_object() {
        return id_text(phone);
    }
    join_phone(id_at(phone, "dddCell"), id_at(phone, "cell"))
        .or_else(|| join_phone(id_at(phone, "dddPhone"), id_at(phone, "phone")))
}

fn charge_day(value: &Value) -> Option<u32> {
    count(value).filter(|day| (1..=31).contains(day))
}

fn purchase_price(data: &Value) -> (Option<Decimal>, Option<String>) {
    let amount_of = |price: Option<&Value>| {
        let price = price?;
        at(price, "value")
            .and_then(decimal)
            .or_else(|| decimal(price))
    };
    let currency_of = |price: Option<&Value>| {
        let price = price?;
        text_at(price, "currency_value")
            .or_else(|| text_at(price, "currency_code"))
            .map(upper)
    };
    let price = at(data, "purchase.price");
    let full_price = at(data, "purchase.full_price");
    match amount_of(price) {
        Some(amount) => (
            Some(amount),
            currency_of(price).or_else(|| currency_of(full_price)),
        ),
        None => (
            amount_of(full_price),
            currency_of(full_price).or_else(|| currency_of(price)),
        ),
    }
}

fn purchase_subscription(data: &Value) -> Option<PurchaseSubscription> {
    let subscription = at(data, "subscription")?;
    let found = PurchaseSubscription {
        subscriber_code: id_at(subscription, "subscriber.code"),
        status: text_at(subscription, "status").map(|s| SubscriptionStatus::parse(&s)),
        plan_id: id_at(subscription, "plan.id"),
        plan_name: text_at(subscription, "plan.name"),
    };
    (found.subscriber_code.is_some()
        || found.status.is_some()
        || found.plan_id.is_some()
        || found.plan_name.is_some())
    .then_some(found)
}

/// The account's own role in the sale: PRODUCER when a producer commission is
/// listed, else the first role that is not Hotmart's own fee (MARKETPLACE).
fn commission_type(data: &Value) -> Option<String> {
    let sources: Vec<String> = at(data, "commissions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|commission| text_at(commission, "source").map(upper))
        .collect();
    sources
        .iter()
        .find(|source| *source == "PRODUCER")
        .or_else(|| sources.iter().find(|source| *source != "MARKETPLACE"))
        .cloned()
}

/// The `plans[]` entry with `current: true` (a boolean or the string "true").
fn current_plan(data: &Value) -> Option<Plan> {
    at(data, "plans")?
        .as_array()?
        .iter()
        .find(|plan| match at(plan, "current") {
            Some(Value::Bool(current)) => *current,
            Some(Value::String(current)) => current.trim().eq_ignore_ascii_case("true"),
            _ => false,
        })
        .and_then(|plan| Plan::from_value(Some(plan)))
}

/// Billet and Pix data from a purchase. Hotmart's field names for these vary
/// (billet_url, billet_barcode, pix_code, pix_qrcode, pix_url, nested objects),
/// so keys only say billet or Pix and the value says what it is: a URL is a
/// link, a long run of digits a barcode, a "000201..." string a Pix EMV code.
#[derive(Debug, Default)]
struct PaymentLinks {
    billet_url: Option<String>,
    billet_barcode: Option<String>,
    pix_emv: Option<String>,
    pix_other: Option<String>,
    pix_url: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Means {
    Billet,
    Pix,
}

impl PaymentLinks {
    fn find(purchase: Option<&Value>) -> Self {
        let mut links = Self::default();
        if let Some(purchase) = purchase {
            // `payment` first, then the rest of the purchase; the first value found wins.
            if let Some(payment) = at(purchase, "payment") {
                links.scan(payment, None, 1);
            }
            links.scan(purchase, None, 0);
        }
        links
    }

    fn scan(&mut self, object: &Value, inherited: Option<Means>, depth: u8) {
        let Some(object) = object.as_object() else {
            return;
        };
        for (key, value) in object {
            let means = means_of(key).or(inherited);
            if value.is_object() {
                if depth < 2 {
                    self.scan(value, means, depth + 1);
                }
            } else if let (Some(means), Some(value)) = (means, text(value)) {
                self.record(means, key, value);
            }
        }
    }

    fn record(&mut self, means: Means, key: &str, value: String) {
        let lower = value.to_ascii_lowercase();
        let is_url = lower.starts_with("https://") || lower.starts_with("http://");
        let slot = match means {
            Means::Billet if is_url => &mut self.billet_url,
            Means::Billet if is_barcode(&value) => &mut self.billet_barcode,
            Means::Pix if is_url => &mut self.pix_url,
            Means::Pix if value.starts_with("000201") => &mut self.pix_emv,
            // Bounded: a QR image sent inline (base64) is not a code to paste.
            Means::Pix
                if is_pix_code_key(key) && !lower.starts_with("data:") && value.len() <= 512 =>
            {
                &mut self.pix_other
            }
            _ => return,
        };
        slot.get_or_insert(value);
    }
}

fn means_of(key: &str) -> Option<Means> {
    let key = key.to_ascii_lowercase();
    if key.contains("billet") || key.contains("boleto") || key.contains("bankslip") {
        Some(Means::Billet)
    } else if key.contains("pix") && !key.contains("pixel") {
        Some(Means::Pix)
    } else {
        None
    }
}

/// A barcode (44 digits) or digitable line (47/48), possibly punctuated.
fn is_barcode(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_digit() || " .-".contains(c))
        && value.chars().filter(char::is_ascii_digit).count() >= 40
}

fn is_pix_code_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    // Not "key": a Pix key identifies the payee, it is not a payable code.
    ["code", "qr", "copy", "emv"]
        .iter()
        .any(|word| key.contains(word))
}
