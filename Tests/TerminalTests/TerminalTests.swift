import Testing

@Test func placeholder_TerminalTests() { #expect(Bool(true)) }
