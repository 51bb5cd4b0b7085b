import Testing

@Test func placeholder_PaymentsTests() { #expect(Bool(true)) }
