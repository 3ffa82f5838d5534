//! Pass: hands its input (or its fixed `Result`) to the next state.

use serde_json::Value;

/// A Pass state's own fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pass {
    /// `Result`: a fixed value that replaces the state's result.
    pub result: Option<Value>,
}

impl Pass {
    /// The state's result: `Result` if given, else the effective input.
    pub fn result(&self, effective_input: Value) -> Value {
        match &self.result {
            Some(result) => result.clone(),
            None => effective_input,
        }
    }
}

impl Pass {
    /// The fields a Pass state may have in JSONPath.
    pub const FIELDS: &[&str] = &[
        "InputPath",
        "OutputPath",
        "Parameters",
        "ResultPath",
        "Result",
        "Assign",
        "Next",
        "End",
    ];
    /// The fields a Pass state may have in JSONata.
    pub const JSONATA_FIELDS: &[&str] = &["Output", "Assign", "Next", "End"];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::eval::Env;
    use crate::asl::io::DataFlow;
    use crate::asl::path::ReferencePath;
    use crate::asl::random::SeededRandom;
    use serde_json::json;

    // The AWS Pass state example: Result placed at ResultPath "$.coords".
    #[test]
    fn aws_pass_example() {
        let pass = Pass {
            result: Some(json!({"x-datum": 0.381018, "y-datum": 622.2269926397355})),
        };
        let flow = DataFlow {
            result_path: Some(ReferencePath::parse("$.coords").unwrap()),
            ..DataFlow::default()
        };
        let input = json!({"georefOf": "Home"});
        let context = json!({});
        let mut random = SeededRandom::new(1);
        let mut env = Env::new(&context, &mut random);
        let effective = flow.effective_input(&input, &mut env).unwrap();
        let output = flow
            .output(&input, pass.result(effective), &mut env)
            .unwrap();
        assert_eq!(
            output,
            json!({"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}})
        );
    }

    #[test]
    fn without_result_the_input_passes_through() {
        assert_eq!(Pass::default().result(json!({"a": 1})), json!({"a": 1}));
    }
}
