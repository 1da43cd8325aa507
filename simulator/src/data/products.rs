//! Products: Nhanh rows (parents and their variants) and Shopify products with variants, generated
//! together so the generator knows which belong together.

use super::customers::{EPOCH_2023, LATEST};
use super::draw::Draw;
use super::names::{self, COLOURS, DEPOTS, LOCATIONS, PRODUCT_KINDS, SIZES, STYLES};

const D_GROUP: u64 = 0xB0;
const D_ITEM: u64 = 0xB1;

/// Number of Nhanh depots and Shopify locations.
pub(crate) const DEPOT_COUNT: usize = DEPOTS.len();
pub(crate) const LOCATION_COUNT: usize = LOCATIONS.len();

/// A Nhanh product row.
#[derive(Debug, Clone)]
pub(crate) struct NhanhProduct {
    pub id: u64,
    pub parent_id: Option<u64>,
    pub code: Option<String>,
    pub barcode: Option<String>,
    pub name: String,
    pub status: u8,
    pub retail: u64,
    pub import: u64,
    pub wholesale: u64,
    pub prices_as_strings: bool,
    /// `available` per depot, in [`DEPOTS`] order.
    pub stock: [i64; DEPOT_COUNT],
    pub created_at: i64,
    /// Last change of the product's own fields (name, prices…), not of its stock.
    pub updated_at: i64,
    /// Last change of its stock: what `product/inventory`'s `updatedAtFrom`/`To` follow.
    pub stock_updated_at: i64,
}

/// A Shopify product.
#[derive(Debug, Clone)]
pub(crate) struct ShopProduct {
    pub id: u64,
    pub title: String,
    pub handle: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Indices into the variant list.
    pub variants: Vec<u32>,
}

/// A Shopify variant and its inventory item.
#[derive(Debug, Clone)]
pub(crate) struct ShopVariant {
    pub id: u64,
    pub product: u32,
    pub inventory_item_id: u64,
    pub title: String,
    pub sku: Option<String>,
    pub barcode: Option<String>,
    /// Price in VND.
    pub price: u64,
    /// `available` per location, in [`LOCATIONS`] order.
    pub levels: [i64; LOCATION_COUNT],
    /// When each level last changed (unix seconds): `InventoryLevel.updatedAt`.
    pub level_updated_at: [i64; LOCATION_COUNT],
    pub updated_at: i64,
}

/// What the generator meant: product pairs and ambiguous SKUs.
#[derive(Debug, Default)]
pub(crate) struct ProductIntent {
    /// (Nhanh product index, variant index).
    pub pairs: Vec<(u32, u32)>,
    pub ambiguous_skus: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Both,
    NoShopSku,
    NoNhanhSku,
    NhanhOnly,
    ShopifyOnly,
    DupNhanhSku,
    DupShopSku,
}

fn item_kind(d: &mut Draw) -> ItemKind {
    match d.below(1000) {
        0..=29 => ItemKind::NoShopSku,
        30..=49 => ItemKind::NoNhanhSku,
        50..=89 => ItemKind::NhanhOnly,
        90..=129 => ItemKind::ShopifyOnly,
        130..=139 => ItemKind::DupNhanhSku,
        140..=149 => ItemKind::DupShopSku,
        _ => ItemKind::Both,
    }
}

/// SKU normalisation: trimmed, lowercase, inner whitespace removed.
pub(crate) fn normalise_sku(sku: &str) -> String {
    sku.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase()
}

/// Writes a SKU the way a second system's operator might.
fn messy_sku(sku: &str, d: &mut Draw) -> String {
    match d.below(10) {
        0 | 1 => sku.to_lowercase(),
        2 => format!(" {} ", sku.to_lowercase()),
        3 => sku.replacen('-', "- ", 1),
        4 => format!("{sku} "),
        _ => sku.to_string(),
    }
}

/// Everything generated about products.
pub(crate) struct Catalog {
    pub nhanh: Vec<NhanhProduct>,
    pub products: Vec<ShopProduct>,
    pub variants: Vec<ShopVariant>,
    pub intent: ProductIntent,
}

/// Generates groups of variants until `nhanh_count` Nhanh rows exist.
pub(crate) fn generate(seed: u64, nhanh_count: usize) -> Catalog {
    let mut c = Catalog {
        nhanh: Vec::with_capacity(nhanh_count),
        products: Vec::new(),
        variants: Vec::new(),
        intent: ProductIntent::default(),
    };
    // The previous item, if it is a plain pair: (Nhanh index, variant index, its SKU).
    let mut last_pair: Option<(u32, u32, String)> = None;
    let mut item = 0u64;
    let mut group = 0u64;
    while c.nhanh.len() < nhanh_count {
        let mut g = Draw::new(seed, D_GROUP, group);
        let (prefix, kind_name) = *g.pick(PRODUCT_KINDS);
        let base = format!("{kind_name} {}", g.pick(STYLES));
        let group_code = format!("{prefix}{:05}", group + 1);
        let size = if g.chance(500) { 1 } else { g.range(2, 4) as usize };
        let created_at = EPOCH_2023 + g.range(0, 500 * 86_400);
        let retail = g.range(49, 1_500) as u64 * 1000;
        let (c0, s0) = (g.below(COLOURS.len() as u64) as usize, g.below(SIZES.len() as u64) as usize);
        let parent_at = (size > 1).then(|| {
            c.nhanh.push(nhanh_row(
                &mut g,
                seed,
                c.nhanh.len(),
                None,
                Some(group_code.clone()),
                None,
                base.clone(),
                retail,
                created_at,
            ));
            c.nhanh.len() - 1
        });
        let shop_index = c.products.len() as u32;
        let mut shop_product = ShopProduct {
            id: 8_800_000_000_000 + group * 7 + g.below(7),
            title: base.clone(),
            handle: format!("{}-{}", names::ascii_fold(&base.to_lowercase()), group + 1),
            created_at,
            updated_at: (created_at + g.range(0, 300 * 86_400)).min(LATEST),
            variants: Vec::new(),
        };
        for v in 0..size {
            if c.nhanh.len() >= nhanh_count {
                break;
            }
            let mut d = Draw::new(seed, D_ITEM, item);
            item += 1;
            let (colour_code, colour) = COLOURS[(c0 + v) % COLOURS.len()];
            let size_name = SIZES[(s0 + v) % SIZES.len()];
            let mut kind = item_kind(&mut d);
            if matches!(kind, ItemKind::DupNhanhSku | ItemKind::DupShopSku) && last_pair.is_none() {
                kind = ItemKind::Both;
            }
            let own_sku = format!("{group_code}-{colour_code}-{size_name}");
            let sku = match kind {
                ItemKind::DupNhanhSku | ItemKind::DupShopSku => {
                    last_pair.as_ref().map(|l| l.2.clone()).unwrap_or(own_sku)
                }
                _ => own_sku,
            };
            let barcode = format!("893{:010}", (group * 7 + v as u64) * 13 + 7);
            let dup = matches!(kind, ItemKind::DupNhanhSku | ItemKind::DupShopSku);
            if dup {
                if let Some((n, var, sku)) = last_pair.take() {
                    // The earlier pair's key is now ambiguous; drop its Shopify barcode so no
                    // barcode fallback can pair it either.
                    c.intent.pairs.retain(|&(a, b)| (a, b) != (n, var));
                    c.intent.ambiguous_skus.push(normalise_sku(&sku));
                    c.variants[var as usize].barcode = None;
                }
            }
            let title = format!("{colour} / {size_name}");
            let on_nhanh = !matches!(kind, ItemKind::ShopifyOnly | ItemKind::DupShopSku);
            let on_shop = !matches!(kind, ItemKind::NhanhOnly | ItemKind::DupNhanhSku);
            let nhanh_at = on_nhanh.then(|| {
                let code = match kind {
                    ItemKind::NoNhanhSku => d.chance(500).then(String::new),
                    ItemKind::DupNhanhSku => Some(messy_sku(&sku, &mut d)),
                    _ => Some(sku.clone()),
                };
                let barcode = (!dup).then(|| barcode.clone());
                let parent = parent_at.map(|i| c.nhanh[i].id);
                c.nhanh.push(nhanh_row(
                    &mut d,
                    seed,
                    c.nhanh.len(),
                    parent,
                    code,
                    barcode,
                    format!("{base} {colour} {size_name}"),
                    retail,
                    created_at,
                ));
                (c.nhanh.len() - 1) as u32
            });
            let variant_at = on_shop.then(|| {
                let shop_sku = match kind {
                    ItemKind::NoShopSku => d.chance(500).then(String::new),
                    _ => Some(messy_sku(&sku, &mut d)),
                };
                let keep_barcode =
                    matches!(kind, ItemKind::NoShopSku | ItemKind::NoNhanhSku) || (!dup && d.chance(900));
                let expected = nhanh_at.map(|n| mapped_sum(&c.nhanh[n as usize].stock));
                let mut levels = [0; LOCATION_COUNT];
                for (l, level) in levels.iter_mut().enumerate() {
                    *level = match expected {
                        Some(e) if d.chance(600) => e[l],
                        _ => d.range(0, 80),
                    };
                }
                let index = c.variants.len() as u32;
                c.variants.push(ShopVariant {
                    id: 45_000_000_000_000 + index as u64 * 3 + d.below(3),
                    product: shop_index,
                    inventory_item_id: 47_000_000_000_000 + index as u64 * 5 + d.below(5),
                    title: title.clone(),
                    sku: shop_sku,
                    barcode: keep_barcode.then(|| barcode.clone()),
                    price: if d.chance(800) { retail } else { retail + 10_000 },
                    levels,
                    level_updated_at: [shop_product.updated_at; LOCATION_COUNT],
                    updated_at: shop_product.updated_at,
                });
                shop_product.variants.push(index);
                index
            });
            last_pair = None;
            if let (Some(n), Some(var)) = (nhanh_at, variant_at) {
                c.intent.pairs.push((n, var));
                if kind == ItemKind::Both {
                    last_pair = Some((n, var, sku.clone()));
                }
            }
        }
        if let Some(parent) = parent_at {
            let children: Vec<[i64; DEPOT_COUNT]> = c.nhanh[parent + 1..].iter().map(|p| p.stock).collect();
            let mut sum = [0; DEPOT_COUNT];
            for stock in children {
                for (s, v) in sum.iter_mut().zip(stock) {
                    *s += v;
                }
            }
            c.nhanh[parent].stock = sum;
        }
        if !shop_product.variants.is_empty() {
            c.products.push(shop_product);
        }
        group += 1;
    }
    c
}

#[allow(clippy::too_many_arguments)]
fn nhanh_row(
    d: &mut Draw,
    seed: u64,
    index: usize,
    parent_id: Option<u64>,
    code: Option<String>,
    barcode: Option<String>,
    name: String,
    retail: u64,
    created_at: i64,
) -> NhanhProduct {
    let mut stock = [0; DEPOT_COUNT];
    for (i, s) in stock.iter_mut().enumerate() {
        *s = if DEPOTS[i].1.is_none() {
            d.range(0, 3)
        } else if d.chance(200) {
            0
        } else {
            d.range(0, 60)
        };
    }
    let total: i64 = stock.iter().sum();
    let _ = seed;
    let mut row = NhanhProduct {
        id: 30_000_000 + index as u64 * 3 + d.below(3),
        parent_id,
        code,
        barcode,
        name,
        status: if total == 0 { 4 } else { *d.pick(&[2, 2, 2, 2, 2, 2, 1, 3]) },
        retail,
        import: retail * 6 / 10,
        wholesale: retail * 9 / 10,
        prices_as_strings: d.chance(100),
        stock,
        created_at,
        updated_at: (created_at + d.range(0, 300 * 86_400)).min(LATEST),
        stock_updated_at: 0,
    };
    row.stock_updated_at = row.updated_at;
    row
}

/// The parts of a depot's stock that are not sellable, as Nhanh reports them beside `available`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct HeldStock {
    /// Held for orders.
    pub holding: i64,
    /// On its way to customers.
    pub shipping: i64,
    /// Damaged.
    pub damaged: i64,
    /// Being moved to another depot (not part of `remain`).
    pub transfering: i64,
}

impl NhanhProduct {
    /// What depot `d` holds back, drawn from the product id so it never changes: about one
    /// product-depot in three has some stock held, shipping or damaged.
    pub(crate) fn held(&self, d: usize) -> HeldStock {
        let h = crate::data::draw::mix(self.id.wrapping_mul(31).wrapping_add(d as u64));
        if h % 3 != 0 {
            return HeldStock::default();
        }
        HeldStock {
            holding: ((h >> 8) % 4) as i64,
            shipping: ((h >> 16) % 3) as i64,
            damaged: ((h >> 24) % 2) as i64,
            transfering: ((h >> 32) % 2) as i64,
        }
    }

    /// `remain` in depot `d`: physically there, the sellable `available` plus what is held,
    /// shipping or damaged (Nhanh's `available` = `remain` − those).
    pub(crate) fn remain(&self, d: usize) -> i64 {
        let held = self.held(d);
        self.stock[d] + held.holding + held.shipping + held.damaged
    }
}

/// Nhanh stock summed per Shopify location through the depot mapping.
pub(crate) fn mapped_sum(stock: &[i64; DEPOT_COUNT]) -> [i64; LOCATION_COUNT] {
    let mut out = [0; LOCATION_COUNT];
    for (i, (_, loc)) in DEPOTS.iter().enumerate() {
        if let Some(l) = loc {
            out[*l] += stock[i];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_normalisation_trims_folds_case_and_drops_inner_spaces() {
        for (input, expect) in [(" ao-001 ", "ao-001"), ("AO- 001", "ao-001"), ("AO-001", "ao-001")] {
            assert_eq!(normalise_sku(input), expect);
        }
    }

    #[test]
    fn every_intended_pair_shares_a_normalised_sku_or_a_barcode() {
        let c = generate(3, 3_000);
        assert_eq!(c.nhanh.len(), 3_000);
        for &(n, v) in &c.intent.pairs {
            let (n, v) = (&c.nhanh[n as usize], &c.variants[v as usize]);
            let sku = |s: &Option<String>| s.as_deref().map(normalise_sku).filter(|s| !s.is_empty());
            match (sku(&n.code), sku(&v.sku)) {
                (Some(a), Some(b)) => assert_eq!(a, b),
                _ => assert!(n.barcode.is_some() && n.barcode == v.barcode, "{n:?} {v:?}"),
            }
        }
        assert!(!c.intent.ambiguous_skus.is_empty());
        assert!(c.nhanh.windows(2).all(|w| w[0].id < w[1].id));
        assert!(c.variants.windows(2).all(|w| w[0].id < w[1].id));
    }
}
