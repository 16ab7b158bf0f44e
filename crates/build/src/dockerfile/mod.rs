//! Dockerfile parsing: text → logical lines ([`lines`]) → typed
//! instructions ([`instruction`]) → stages. Variables are expanded later,
//! by the executor, with [`words`]. Every error names its line.

pub mod instruction;
pub mod lines;
pub mod words;

pub use instruction::{Command, CopySpec, Health, Instruction, Kind};

/// A Dockerfile syntax error, at a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile parse error line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            message: message.into(),
        }
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// ARGs before the first FROM (usable in FROM lines).
    pub meta_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
    /// The escape character (`# escape=`).
    pub escape: char,
}

/// One build stage: its FROM and what follows up to the next FROM.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub from: Instruction,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    pub instructions: Vec<Instruction>,
}

impl Dockerfile {
    /// Parses a Dockerfile.
    pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
        let (lines, escape) = lines::logical_lines(text)?;
        let mut meta_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for l in lines {
            let ins = instruction::parse(l.number, &l.text, escape)?;
            match (&ins.kind, stages.last_mut()) {
                (Kind::From { name, .. }, _) => {
                    if let Some(n) = name {
                        if stages.iter().any(|s| s.name.as_deref() == Some(n)) {
                            return Err(ParseError::new(
                                ins.line,
                                format!("duplicate name {n:?} for a build stage"),
                            ));
                        }
                    }
                    stages.push(Stage {
                        name: name.clone(),
                        from: ins,
                        instructions: Vec::new(),
                    })
                }
                (Kind::Arg(_), None) => meta_args.push(ins),
                (_, None) => {
                    return Err(ParseError::new(
                        ins.line,
                        format!(
                            "{} before FROM: a Dockerfile must begin with FROM (only ARG may come before it)",
                            ins.kind.keyword()
                        ),
                    ))
                }
                (_, Some(stage)) => stage.instructions.push(ins),
            }
        }
        if stages.is_empty() {
            return Err(ParseError::new(
                1,
                "the Dockerfile has no FROM instruction (no build stage)",
            ));
        }
        Ok(Dockerfile {
            meta_args,
            stages,
            escape,
        })
    }

    /// Number of steps ("Step N/M") of stages 0..=`last` (ARGs before
    /// the first FROM are not steps).
    pub fn steps_until(&self, last: usize) -> usize {
        self.stages
            .iter()
            .take(last + 1)
            .map(|s| 1 + s.instructions.len())
            .sum()
    }

    /// The index of the stage `name` (a stage name or index).
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.stages.len())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_meta_args() -> Result<(), ParseError> {
        let d = Dockerfile::parse(
            "ARG BASE=busybox\nFROM $BASE AS build\nRUN echo hi > /x\n\nFROM scratch\nCOPY --from=build /x /x\nCMD [\"/x\"]\n",
        )?;
        assert_eq!(d.meta_args.len(), 1);
        assert_eq!(d.stages.len(), 2);
        assert_eq!(d.stages[0].name.as_deref(), Some("build"));
        assert_eq!(d.stages[1].instructions.len(), 2);
        assert_eq!(d.stages[1].instructions[0].line, 6);
        assert_eq!(d.stage_index("BUILD"), Some(0));
        assert_eq!(d.stage_index("1"), Some(1));
        assert_eq!(d.stage_index("2"), None);
        assert_eq!(d.steps_until(1), 5);
        Ok(())
    }

    #[test]
    fn errors_name_the_line() {
        let e = Dockerfile::parse("FROM busybox\n\nRUN true \\\n  && true\nRUNN false\n").err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("Dockerfile parse error line 5: unknown instruction: RUNN".to_string())
        );
        let e = Dockerfile::parse("# comment\nRUN true\nFROM x\n").err();
        assert_eq!(e.map(|e| e.line), Some(2));
        let e = Dockerfile::parse("FROM a AS x\nFROM b AS X\n").err();
        assert_eq!(e.map(|e| e.line), Some(2));
        assert!(Dockerfile::parse("# only a comment\n").is_err());
    }
}
