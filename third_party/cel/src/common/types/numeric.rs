//! vf-post: equality across CEL's numeric types, as the CEL specification has it and cel-go
//! (so Kubernetes) evaluates it: `1 == 1.0` and `1u == 1` are true, compared by value, never
//! by rounding (`9007199254740993 == 9007199254740992.0` is false).

use super::{CelDouble, CelInt, CelUInt};
use crate::common::value::Val;

/// A number of any of CEL's numeric types.
#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    UInt(u64),
    Double(f64),
}

fn number(value: &dyn Val) -> Option<Number> {
    if let Some(i) = value.downcast_ref::<CelInt>() {
        return Some(Number::Int(*i.inner()));
    }
    if let Some(u) = value.downcast_ref::<CelUInt>() {
        return Some(Number::UInt(*u.inner()));
    }
    value
        .downcast_ref::<CelDouble>()
        .map(|d| Number::Double(*d.inner()))
}

/// Whether two values are equal numbers; false if either is no number.
pub(crate) fn equal(a: &dyn Val, b: &dyn Val) -> bool {
    let (Some(a), Some(b)) = (number(a), number(b)) else {
        return false;
    };
    match (a, b) {
        (Number::Int(a), Number::Int(b)) => a == b,
        (Number::UInt(a), Number::UInt(b)) => a == b,
        (Number::Double(a), Number::Double(b)) => a == b,
        (Number::Int(i), Number::UInt(u)) | (Number::UInt(u), Number::Int(i)) => {
            u64::try_from(i).is_ok_and(|i| i == u)
        }
        (Number::Int(i), Number::Double(d)) | (Number::Double(d), Number::Int(i)) => {
            whole(d).is_some_and(|d| d == i128::from(i))
        }
        (Number::UInt(u), Number::Double(d)) | (Number::Double(d), Number::UInt(u)) => {
            whole(d).is_some_and(|d| d == i128::from(u))
        }
    }
}

/// A double's exact value if it is a whole number within 128 bits.
fn whole(d: f64) -> Option<i128> {
    (d.is_finite() && d.fract() == 0.0 && d.abs() < 1.7e38).then_some(d as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_equal_across_types_by_value() {
        let int = |i: i64| CelInt::from(i);
        assert!(equal(&int(1), &CelDouble::from(1.0)));
        assert!(equal(&CelUInt::from(1u64), &int(1)));
        assert!(!equal(&int(-1), &CelUInt::from(u64::MAX)));
        assert!(!equal(&int(9_007_199_254_740_993), &CelDouble::from(9_007_199_254_740_992.0)));
        assert!(!equal(&int(1), &CelDouble::from(f64::NAN)));
        assert!(!equal(&int(1), &CelDouble::from(1.5)));
    }
}
