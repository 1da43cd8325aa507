//! Vietnamese words the generator draws from: people's names, product names, places.

/// Family names, most common first (Nguyễn is about 38 % of the population).
pub(crate) const FAMILY: &[&str] = &[
    "Nguyễn", "Nguyễn", "Nguyễn", "Trần", "Trần", "Lê", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
    "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trương",
];

pub(crate) const MIDDLE_FEMALE: &[&str] = &["Thị", "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Bảo", "Khánh"];
pub(crate) const MIDDLE_MALE: &[&str] = &["Văn", "Văn", "Đức", "Minh", "Quốc", "Hữu", "Thanh", "Công"];

pub(crate) const GIVEN_FEMALE: &[&str] = &[
    "Hồng", "Lan", "Hương", "Mai", "Linh", "Trang", "Thảo", "Ngọc", "Hà", "Phương", "Yến", "Nhung", "Hạnh", "Thủy",
    "Vy", "Anh", "Châu", "Diệp", "Quỳnh", "Loan",
];
pub(crate) const GIVEN_MALE: &[&str] = &[
    "Đức", "Hùng", "Dũng", "Tuấn", "Minh", "Nam", "Long", "Phúc", "Quang", "Sơn", "Thắng", "Cường", "Khoa", "Bảo",
    "Hải", "Việt", "Toàn", "Thành", "Hiếu", "Trung",
];

/// Streets and districts for addresses.
pub(crate) const STREETS: &[&str] = &[
    "Lê Lợi",
    "Nguyễn Huệ",
    "Trần Hưng Đạo",
    "Hai Bà Trưng",
    "Lý Thường Kiệt",
    "Điện Biên Phủ",
    "Cầu Giấy",
    "Láng Hạ",
    "Phan Đình Phùng",
    "Võ Văn Tần",
];
pub(crate) const DISTRICTS: &[&str] = &[
    "Quận 1, TP Hồ Chí Minh",
    "Quận 3, TP Hồ Chí Minh",
    "Quận Bình Thạnh, TP Hồ Chí Minh",
    "Quận Cầu Giấy, Hà Nội",
    "Quận Đống Đa, Hà Nội",
    "Quận Hoàn Kiếm, Hà Nội",
    "Quận Hải Châu, Đà Nẵng",
];

/// Product kinds: (SKU prefix, name).
pub(crate) const PRODUCT_KINDS: &[(&str, &str)] = &[
    ("AOT", "Áo thun cổ tròn"),
    ("AOS", "Áo sơ mi dài tay"),
    ("AOK", "Áo khoác gió"),
    ("QJN", "Quần jean nữ"),
    ("QJM", "Quần jean nam"),
    ("QTY", "Quần tây công sở"),
    ("VAY", "Váy liền thân"),
    ("DAM", "Đầm dự tiệc"),
    ("GIA", "Giày thể thao"),
    ("DEP", "Dép quai hậu"),
    ("TUI", "Túi xách da"),
    ("MU", "Mũ lưỡi trai"),
    ("KHT", "Khăn lụa tơ tằm"),
    ("NON", "Nón lá Huế"),
];

/// Style words appended to a product name.
pub(crate) const STYLES: &[&str] =
    &["cơ bản", "phong cách Hàn", "dáng rộng", "ôm body", "họa tiết", "cao cấp", "mùa hè", "thêu tay"];

/// Colours: (code in SKUs, name).
pub(crate) const COLOURS: &[(&str, &str)] = &[
    ("TR", "Trắng"),
    ("DE", "Đen"),
    ("DO", "Đỏ"),
    ("XD", "Xanh dương"),
    ("XL", "Xanh lá"),
    ("VA", "Vàng"),
    ("HO", "Hồng"),
    ("BE", "Be"),
];

pub(crate) const SIZES: &[&str] = &["S", "M", "L", "XL", "XXL"];

/// Nhanh depots: (name, index of the Shopify location they feed, or `None` if unmapped).
pub(crate) const DEPOTS: &[(&str, Option<usize>)] = &[
    ("Kho tổng Hà Nội", Some(0)),
    ("Cửa hàng Cầu Giấy", Some(0)),
    ("Kho tổng Hồ Chí Minh", Some(1)),
    ("Cửa hàng Quận 1", Some(1)),
    ("Kho Đà Nẵng", Some(2)),
    ("Kho hàng lỗi", None),
];

/// Shopify locations.
pub(crate) const LOCATIONS: &[&str] = &["Hà Nội", "Hồ Chí Minh", "Đà Nẵng"];

/// Folds Vietnamese letters to ASCII (for e-mail addresses and handles).
pub(crate) fn ascii_fold(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            let base =
                match c {
                    'à' | 'á' | 'ạ' | 'ả' | 'ã' | 'â' | 'ầ' | 'ấ' | 'ậ' | 'ẩ' | 'ẫ' | 'ă' | 'ằ' | 'ắ' | 'ặ' | 'ẳ'
                    | 'ẵ' => 'a',
                    'è' | 'é' | 'ẹ' | 'ẻ' | 'ẽ' | 'ê' | 'ề' | 'ế' | 'ệ' | 'ể' | 'ễ' => 'e',
                    'ì' | 'í' | 'ị' | 'ỉ' | 'ĩ' => 'i',
                    'ò' | 'ó' | 'ọ' | 'ỏ' | 'õ' | 'ô' | 'ồ' | 'ố' | 'ộ' | 'ổ' | 'ỗ' | 'ơ' | 'ờ' | 'ớ' | 'ợ' | 'ở'
                    | 'ỡ' => 'o',
                    'ù' | 'ú' | 'ụ' | 'ủ' | 'ũ' | 'ư' | 'ừ' | 'ứ' | 'ự' | 'ử' | 'ữ' => 'u',
                    'ỳ' | 'ý' | 'ỵ' | 'ỷ' | 'ỹ' => 'y',
                    'đ' => 'd',
                    c if c.is_ascii_alphanumeric() => c,
                    ' ' | '-' => '-',
                    _ => return None,
                };
            Some(base)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_letters_fold_to_ascii() {
        assert_eq!(ascii_fold(&"Nguyễn Thị Hồng".to_lowercase()), "nguyen-thi-hong");
        assert_eq!(ascii_fold(&"Trần Văn Đức".to_lowercase()), "tran-van-duc");
    }
}
