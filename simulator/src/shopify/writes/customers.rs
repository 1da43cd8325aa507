//! `customerSet`: upsert by id, e-mail or phone; phone and e-mail unique per shop.

use serde_json::json;

use super::{entry, problem, Problem, INJECTED};
use crate::data::customers::{CustomerEdit, ShopCustomer};
use crate::gid::gid;
use crate::shopify::mutations::*;
use crate::shopify::objects::*;
use crate::sim::Sim;

/// E.164: `+`, a non-zero digit, 7 to 14 more digits.
fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0')
}

pub(crate) fn set_customer(
    sim: &Sim,
    identifier: Option<&CustomerSetIdentifiers>,
    input: &CustomerSetInput,
    key: Option<String>,
) -> CustomerSetPayload {
    let value = json!({
        "identifier": identifier.map(|i| json!({"id": i.id.as_deref(), "email": i.email, "phone": i.phone})),
        "input": {"firstName": input.first_name, "lastName": input.last_name, "email": input.email, "phone": input.phone, "note": input.note, "tags": input.tags},
    });
    let mut world = sim.write();
    let fail = |world_target: String, p: Problem| {
        sim.journal.extend([entry(sim, "customerSet", world_target, value.clone(), &key, Some(p.message.clone()))]);
        CustomerSetPayload { customer: None, user_errors: vec![p.into()] }
    };
    let given =
        identifier.map(|i| [i.id.is_some(), i.email.is_some(), i.phone.is_some()].iter().filter(|b| **b).count());
    if given.is_some_and(|n| n != 1) {
        return fail(
            String::new(),
            problem(&["identifier"], "Exactly one identifier (id, email or phone) must be given.", "INVALID"),
        );
    }
    let existing = match identifier {
        None => None,
        Some(CustomerSetIdentifiers { id: Some(id), .. }) => match world.shop_customer_index(id) {
            Some(i) => Some(i),
            None => {
                return fail(id.to_string(), problem(&["identifier", "id"], "Customer does not exist.", "NOT_FOUND"))
            }
        },
        Some(CustomerSetIdentifiers { email: Some(email), .. }) => {
            world.contacts().email.get(&email.to_lowercase()).map(|&i| i as usize)
        }
        Some(CustomerSetIdentifiers { phone: Some(phone), .. }) => {
            world.contacts().phone.get(phone).map(|&i| i as usize)
        }
        Some(_) => None,
    };
    let email = input.email.clone().or_else(|| identifier.and_then(|i| i.email.clone()));
    let phone = input.phone.clone().or_else(|| identifier.and_then(|i| i.phone.clone()));
    let target = existing.map(|i| gid("Customer", world.shop_customers[i].id)).unwrap_or_default();
    if let Some(phone) = &phone {
        if !is_e164(phone) {
            return fail(target, problem(&["input", "phone"], "Phone is invalid", "INVALID"));
        }
        if world.contacts().phone.get(phone).is_some_and(|&i| Some(i as usize) != existing) {
            return fail(target, problem(&["input", "phone"], "Phone has already been taken", "TAKEN"));
        }
    }
    if let Some(email) = &email {
        if !email.contains('@') {
            return fail(target, problem(&["input", "email"], "Email is invalid", "INVALID"));
        }
        if world.contacts().email.get(&email.to_lowercase()).is_some_and(|&i| Some(i as usize) != existing) {
            return fail(target, problem(&["input", "email"], "Email has already been taken", "TAKEN"));
        }
    }
    if existing.is_none()
        && email.is_none()
        && phone.is_none()
        && input.first_name.is_none()
        && input.last_name.is_none()
    {
        return fail(target, problem(&["input"], "A customer needs a name, an e-mail or a phone.", "INVALID"));
    }
    if !target.is_empty() && sim.faults.item_fails(&target) {
        return fail(target, problem(&["input"], INJECTED, "INTERNAL_ERROR"));
    }
    let now = sim.clock.unix_secs();
    let index = match existing {
        Some(i) => i,
        None => {
            let id = world.shop_customers.last().map_or(7_100_000_000_000, |c| c.id) + 1;
            world.shop_customers.push(ShopCustomer {
                id,
                person: None,
                updated_at: now,
                amount_spent: 0,
                orders: 0,
                edit: None,
            });
            world.shop_customers.len() - 1
        }
    };
    let old = customer_fields(&world, index);
    let edit = CustomerEdit {
        first_name: input.first_name.clone().or(old.first_name),
        last_name: input.last_name.clone().or(old.last_name),
        email: email.clone().or(old.email.clone()),
        phone: phone.clone().or(old.phone.clone()),
        address_phone: old.address_phone,
        created_at: if existing.is_some() { old.created_at } else { now },
    };
    {
        let contacts = world.contacts();
        if let Some(e) = &old.email {
            contacts.email.remove(&e.to_lowercase());
        }
        if let Some(p) = &old.phone {
            contacts.phone.remove(p);
        }
        if let Some(e) = &edit.email {
            contacts.email.insert(e.to_lowercase(), index as u32);
        }
        if let Some(p) = &edit.phone {
            contacts.phone.insert(p.clone(), index as u32);
        }
    }
    world.shop_customers[index].edit = Some(Box::new(edit));
    world.shop_customers[index].updated_at = now;
    let target = gid("Customer", world.shop_customers[index].id);
    sim.journal.extend([entry(sim, "customerSet", target, value, &key, None)]);
    CustomerSetPayload { customer: Some(customer_view(&world, index)), user_errors: vec![] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_must_be_e164() {
        for (phone, ok) in [("+84988992942", true), ("0988992942", false), ("+0988", false), ("+84 988", false)] {
            assert_eq!(is_e164(phone), ok, "{phone}");
        }
    }
}
