//! Request streams: (subscription, service, action, instant) drawn so that
//! most requests touch nothing an order restricts and about one in ten is
//! denied, with unknown subscriptions, services and actions mixed in.

use verdict_model::{ActionClass, ServiceIndex, Timestamp};

use crate::rng::Rng;
use crate::world::{DAY, World};

/// Share of requests aimed at a subscription some order covers.
const HOT: f64 = 0.08;
const UNKNOWN_SUBSCRIPTION: f64 = 0.004;
const UNKNOWN_SERVICE: f64 = 0.004;
const UNKNOWN_ACTION: f64 = 0.008;
/// Services not in the catalog; `storage.tape` shares a family with known ones.
const UNKNOWN_SERVICES: [&str; 3] = ["storage.tape", "quantum.annealer", "ai.oracle"];
/// Actions no service lists; verdict classes them `write`.
const UNKNOWN_ACTIONS: [&str; 4] = ["frobnicate", "purge-all", "READ", "mint-token"];

/// One request: its subscription id as a span of [`RequestStream::text`],
/// its service and action as indexes into the name pools (24 bytes, so ten
/// million fit in memory comfortably).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// When the request is made.
    pub at: Timestamp,
    /// Where the subscription id starts in [`RequestStream::text`].
    pub subscription_start: u32,
    /// Its length in bytes.
    pub subscription_len: u8,
    /// Index into [`RequestStream::services`].
    pub service: u16,
    /// Index into [`RequestStream::actions`].
    pub action: u16,
}

/// A generated sequence of requests and the names they use.
///
/// Each request's subscription id is written out in [`RequestStream::text`]
/// in request order, as a gateway holds the id of the request in hand: the
/// bytes are read sequentially, not fetched from a million scattered
/// allocations (which would charge the engine a cache miss that a real
/// caller never pays). Services and actions come from small pools that stay
/// in cache, as they would.
pub struct RequestStream {
    /// The requests' subscription ids, back to back.
    pub text: String,
    /// Service names: the catalog's, then unknown ones.
    pub services: Vec<Box<str>>,
    /// Action names: every catalog action, then unknown ones.
    pub actions: Vec<Box<str>>,
    /// The requests.
    pub requests: Vec<Request>,
}

impl RequestStream {
    /// Request `i` as the strings a gateway would pass.
    #[inline]
    pub fn get(&self, i: usize) -> (&str, &str, &str, Timestamp) {
        self.resolve(&self.requests[i])
    }

    /// A request's strings.
    #[inline]
    pub fn resolve(&self, r: &Request) -> (&str, &str, &str, Timestamp) {
        let start = r.subscription_start as usize;
        (
            &self.text[start..start + r.subscription_len as usize],
            &self.services[r.service as usize],
            &self.actions[r.action as usize],
            r.at,
        )
    }

    /// Number of requests.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether there are no requests.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }
}

/// A request while the stream is drawn: the subscription as a world index
/// (ghosts after the real ones).
struct Draft {
    subscription: u32,
    service: u16,
    action: u16,
    at: Timestamp,
}

impl World {
    /// Generates `n` requests. Deterministic in the world and `seed`.
    ///
    /// About 8% of requests go to a subscription an order covers (half the
    /// time at a service the order restricts, 5% at one of the order's
    /// phase, end or lifting instants, or the second before); the rest go to
    /// uniformly drawn subscriptions, mostly at services they use. Instants
    /// fall between two days before the world's `now` and two weeks after.
    pub fn requests(&self, n: usize, seed: u64) -> RequestStream {
        let mut rng = Rng::new(seed ^ 0x7265_7175_6573_7473);
        let known_subs = self.inventory.subscriptions.len();
        let unknown_subs = 64;
        let ghosts: Vec<String> = (0..unknown_subs).map(|i| format!("ghost-{i:04}")).collect();

        let catalog = &self.catalog;
        let mut services: Vec<Box<str>> = catalog.services.iter().map(|s| s.name.as_str().into()).collect();
        services.extend(UNKNOWN_SERVICES.iter().map(|s| (*s).into()));
        let mut actions: Vec<Box<str>> = Vec::new();
        let mut service_actions: Vec<Vec<u16>> = Vec::new();
        for service in &catalog.services {
            let mut own = Vec::new();
            for (name, _) in &service.actions {
                let i = match actions.iter().position(|a| **a == **name) {
                    Some(i) => i,
                    None => {
                        actions.push(name.as_str().into());
                        actions.len() - 1
                    }
                };
                own.push(i as u16);
            }
            service_actions.push(own);
        }
        let unknown_action_base = actions.len();
        actions.extend(UNKNOWN_ACTIONS.iter().map(|a| (*a).into()));
        let class_actions: Vec<u16> = ActionClass::ALL
            .iter()
            .map(|c| actions.iter().position(|a| **a == *c.as_str()).expect("class names are actions") as u16)
            .collect();
        let sub_services: Vec<Vec<u16>> = self
            .inventory
            .subscriptions
            .iter()
            .map(|s| s.services.iter().filter_map(|name| catalog.index_of(name)).collect())
            .collect();

        let coverage = self.coverage();
        let hot_orders: Vec<usize> = (0..coverage.len()).filter(|&o| !coverage[o].is_empty()).collect();
        let order_services: Vec<Vec<ServiceIndex>> = self
            .orders
            .iter()
            .map(|o| o.spec.validate(catalog).map(|set| set.iter().collect()).unwrap_or_default())
            .collect();
        let order_instants: Vec<Vec<i64>> = self
            .orders
            .iter()
            .map(|o| {
                let mut at: Vec<i64> = o.spec.phases.iter().map(|p| p.start.seconds()).collect();
                at.extend(o.spec.end.map(|t| t.seconds()));
                at.extend(o.lifted_at.map(|t| t.seconds()));
                at
            })
            .collect();

        let now = self.now.seconds();
        let window = |rng: &mut Rng| Timestamp(now + rng.between(-2 * DAY, 14 * DAY));
        let any_service = |rng: &mut Rng| rng.below(catalog.services.len()) as u16;
        let any_sub = |rng: &mut Rng| rng.below(known_subs.max(1)) as u32;
        let mut requests = Vec::with_capacity(n);
        let mut text = String::with_capacity(n * 12);
        for _ in 0..n {
            let roll = rng.unit();
            let request = if roll < UNKNOWN_SUBSCRIPTION || known_subs == 0 {
                let service = any_service(&mut rng);
                Draft {
                    subscription: (known_subs + rng.below(unknown_subs)) as u32,
                    service,
                    action: *rng.pick(&service_actions[service as usize]),
                    at: window(&mut rng),
                }
            } else if roll < UNKNOWN_SUBSCRIPTION + UNKNOWN_SERVICE {
                Draft {
                    subscription: any_sub(&mut rng),
                    service: (catalog.services.len() + rng.below(UNKNOWN_SERVICES.len())) as u16,
                    action: *rng.pick(&class_actions),
                    at: window(&mut rng),
                }
            } else {
                let unknown_action = roll < UNKNOWN_SUBSCRIPTION + UNKNOWN_SERVICE + UNKNOWN_ACTION;
                let hot = !hot_orders.is_empty() && (rng.chance(HOT) || (unknown_action && rng.chance(0.5)));
                let (subscription, service, at) = if hot {
                    let o = *rng.pick(&hot_orders);
                    let sub = *rng.pick(&coverage[o]);
                    let service = if rng.chance(0.5) { *rng.pick(&order_services[o]) } else { any_service(&mut rng) };
                    let at = if rng.chance(0.05) {
                        Timestamp(*rng.pick(&order_instants[o]) - rng.below(2) as i64)
                    } else {
                        window(&mut rng)
                    };
                    (sub, service, at)
                } else {
                    let sub = any_sub(&mut rng);
                    let own = &sub_services[sub as usize];
                    let service =
                        if !own.is_empty() && rng.chance(0.75) { *rng.pick(own) } else { any_service(&mut rng) };
                    (sub, service, window(&mut rng))
                };
                let action = if unknown_action {
                    (unknown_action_base + rng.below(UNKNOWN_ACTIONS.len())) as u16
                } else {
                    *rng.pick(&service_actions[service as usize])
                };
                Draft { subscription, service, action, at }
            };
            let id = match self.inventory.subscriptions.get(request.subscription as usize) {
                Some(sub) => sub.id.as_str(),
                None => ghosts[request.subscription as usize - known_subs].as_str(),
            };
            let subscription_start = u32::try_from(text.len()).expect("request text under 4 GiB");
            text.push_str(id);
            requests.push(Request {
                at: request.at,
                subscription_start,
                subscription_len: u8::try_from(id.len()).expect("ids are at most 64 bytes"),
                service: request.service,
                action: request.action,
            });
        }
        RequestStream { text, services, actions, requests }
    }
}
