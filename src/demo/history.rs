//! Six months of the demo school, drawn from a seeded generator: who bought
//! what and how they paid, who asked for a refund, who never opened the
//! course, how far each student got, who cancelled a subscription. The
//! outcome is the postbacks Hotmart would have sent, in the order it sent
//! them.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use uuid::Uuid;

use super::catalog::{DemoProduct, PRODUCTS};
use super::customers::{DemoPerson, person};
use super::postbacks::{self, Payment, Postback, Sale};

/// Where buyers came from (`purchase.origin.src`).
const SOURCES: &[&str] = &[
    "instagram",
    "youtube",
    "google",
    "email",
    "whatsapp",
    "tiktok",
];

/// The school's history between `start` and `end`: its postbacks, oldest first.
pub fn history(
    rng: &mut StdRng,
    customers: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Postback> {
    let mut postbacks = Vec::new();
    // Carts are left up to three days before a purchase: the first
    // purchases come three days after the school opens.
    let opening = Duration::days(3);
    let span = (end - start - opening).num_minutes().max(60);
    for index in 0..customers {
        let person = person(rng, index);
        let product = pick_product(rng);
        // The school grows: more buyers lately than six months ago.
        let share = rng.r#gen::<f64>().sqrt();
        let ordered_at =
            start + opening + Duration::minutes((share * (span - 60) as f64) as i64 + 30);
        let mut journey = Journey {
            rng: &mut *rng,
            person: &person,
            product,
            end,
            postbacks: &mut postbacks,
        };
        journey.live(ordered_at);
    }
    postbacks.retain(|p| p.at <= end);
    postbacks.sort_by_key(|p| p.at);
    postbacks
}

fn pick_product(rng: &mut impl Rng) -> &'static DemoProduct {
    let total: u32 = PRODUCTS.iter().map(|p| p.weight).sum();
    let mut roll = rng.gen_range(0..total);
    for product in &PRODUCTS {
        if roll < product.weight {
            return product;
        }
        roll -= product.weight;
    }
    &PRODUCTS[0]
}

/// An envelope id: a v4 UUID from the seeded generator.
fn postback_id(rng: &mut impl Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid()
}

fn transaction_code(rng: &mut impl Rng) -> String {
    format!(
        "HP{:014}",
        rng.gen_range(10_000_000_000_000u64..99_999_999_999_999)
    )
}

fn minutes(rng: &mut impl Rng, from: i64, to: i64) -> Duration {
    Duration::minutes(rng.gen_range(from..=to))
}

/// One buyer's life at the school.
struct Journey<'a> {
    rng: &'a mut StdRng,
    person: &'a DemoPerson,
    product: &'static DemoProduct,
    end: DateTime<Utc>,
    postbacks: &'a mut Vec<Postback>,
}

impl Journey<'_> {
    fn push(&mut self, postback: Postback) {
        self.postbacks.push(postback);
    }

    fn id(&mut self) -> Uuid {
        postback_id(self.rng)
    }

    fn live(&mut self, ordered_at: DateTime<Utc>) {
        // Some leave the checkout first; a few of them never come back.
        if self.rng.gen_bool(0.12) {
            let id = self.id();
            let left_at = ordered_at - minutes(self.rng, 60, 3 * 24 * 60);
            self.push(postbacks::cart_abandoned(
                id,
                self.person,
                self.product,
                left_at,
            ));
            if self.rng.gen_bool(0.4) {
                return;
            }
        }
        let payment = if self.product.subscription_plan.is_some() {
            Payment::CreditCard
        } else {
            match self.rng.gen_range(0..100) {
                0..60 => Payment::CreditCard,
                60..85 => Payment::Pix,
                _ => Payment::Billet,
            }
        };
        let paid_after = match payment {
            Payment::CreditCard => Some(Duration::seconds(self.rng.gen_range(2..90))),
            Payment::Pix => self.rng.gen_bool(0.85).then(|| minutes(self.rng, 2, 180)),
            Payment::Billet => self
                .rng
                .gen_bool(0.65)
                .then(|| minutes(self.rng, 18 * 60, 3 * 24 * 60)),
        };
        let subscriber_code = self.product.subscription_plan.map(|_| {
            (0..8)
                .map(|_| char::from(b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[self.rng.gen_range(0..32)]))
                .collect::<String>()
        });
        let transaction = transaction_code(self.rng);
        let source = SOURCES[self.rng.gen_range(0..SOURCES.len())];
        let mut sale = Sale {
            id: self.id(),
            transaction,
            person: self.person,
            product: self.product,
            payment,
            ordered_at,
            approved_at: None,
            recurrence: 1,
            subscriber_code,
            source,
        };
        if payment != Payment::CreditCard {
            let id = sale.id;
            self.push(sale.printed(id));
        }
        let Some(paid_after) = paid_after else {
            // Never paid: the billet or the Pix code expires.
            let id = self.id();
            let expired_at = ordered_at + Duration::days(4);
            self.push(sale.event(id, "PURCHASE_EXPIRED", "EXPIRED", expired_at));
            return;
        };
        let approved_at = ordered_at + paid_after;
        sale.approved_at = Some(approved_at);
        let id = self.id();
        self.push(sale.event(id, "PURCHASE_APPROVED", "APPROVED", approved_at));
        let refunds = self.rng.gen_bool(0.07);
        if refunds {
            let id = self.id();
            let refunded_at = approved_at + minutes(self.rng, 6 * 60, 6 * 24 * 60);
            self.push(sale.event(id, "PURCHASE_REFUNDED", "REFUNDED", refunded_at));
        } else if sale.subscriber_code.is_none() {
            // The warranty ends: the sale is complete.
            let id = self.id();
            self.push(sale.event(
                id,
                "PURCHASE_COMPLETE",
                "COMPLETE",
                approved_at + Duration::days(7),
            ));
        }
        let accesses = self.rng.gen_bool(if refunds { 0.35 } else { 0.84 });
        if accesses {
            let first_access_at = approved_at + self.delay_to_first_access();
            self.study(first_access_at, refunds);
        }
        if !refunds && let Some(code) = sale.subscriber_code.clone() {
            self.renew(&mut sale, &code, approved_at);
        }
    }

    /// Most open the course the same day; some take days.
    fn delay_to_first_access(&mut self) -> Duration {
        match self.rng.gen_range(0..100) {
            0..55 => minutes(self.rng, 5, 6 * 60),
            55..85 => minutes(self.rng, 6 * 60, 36 * 60),
            _ => minutes(self.rng, 36 * 60, 6 * 24 * 60),
        }
    }

    /// The first access, then a module at a time until the student stops.
    fn study(&mut self, first_access_at: DateTime<Utc>, refunded: bool) {
        let id = self.id();
        self.push(postbacks::first_access(
            id,
            self.person,
            self.product,
            first_access_at,
        ));
        let modules = self.product.modules.len();
        let keeps_going = if refunded { 0.2 } else { 0.72 };
        let mut at = first_access_at;
        for index in 0..modules {
            if !self.rng.gen_bool(keeps_going) {
                break;
            }
            at += minutes(self.rng, 2 * 24 * 60, 12 * 24 * 60);
            if at > self.end {
                break;
            }
            let id = self.id();
            self.push(postbacks::module_completed(
                id,
                self.person,
                self.product,
                index,
                at,
            ));
        }
    }

    /// A subscription's monthly charges until the subscriber cancels.
    fn renew(&mut self, first: &mut Sale<'_>, code: &str, approved_at: DateTime<Utc>) {
        let mut charge_at = approved_at;
        let mut recurrence = 1;
        loop {
            let next_charge = charge_at + Duration::days(30);
            if self.rng.gen_bool(0.18) {
                let id = self.id();
                let cancelled_at = charge_at + minutes(self.rng, 24 * 60, 28 * 24 * 60);
                self.push(postbacks::subscription_cancelled(
                    id,
                    self.person,
                    self.product,
                    code,
                    cancelled_at,
                    next_charge,
                ));
                return;
            }
            if next_charge > self.end {
                return;
            }
            recurrence += 1;
            charge_at = next_charge;
            first.transaction = transaction_code(self.rng);
            first.ordered_at = charge_at;
            first.approved_at = Some(charge_at);
            first.recurrence = recurrence;
            let id = self.id();
            self.push(first.event(id, "PURCHASE_APPROVED", "APPROVED", charge_at));
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_same_seed_tells_the_same_history_within_its_months() {
        let end = Utc::now();
        let start = end - Duration::days(182);
        let one = history(&mut StdRng::seed_from_u64(7), 200, start, end);
        let two = history(&mut StdRng::seed_from_u64(7), 200, start, end);
        assert_eq!(one.len(), two.len());
        assert!(
            one.iter()
                .zip(&two)
                .all(|(a, b)| a.body == b.body && a.at == b.at)
        );
        assert!(one.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(
            one.iter()
                .all(|p| p.at >= start - Duration::days(3) && p.at <= end)
        );
        let count = |event: &str| one.iter().filter(|p| p.body["event"] == event).count();
        assert!(count("PURCHASE_APPROVED") > 150);
        for event in [
            "PURCHASE_REFUNDED",
            "PURCHASE_BILLET_PRINTED",
            "PURCHASE_OUT_OF_SHOPPING_CART",
            "CLUB_FIRST_ACCESS",
            "CLUB_MODULE_COMPLETED",
            "SUBSCRIPTION_CANCELLATION",
        ] {
            assert!(count(event) > 0, "no {event}");
        }
    }
}
