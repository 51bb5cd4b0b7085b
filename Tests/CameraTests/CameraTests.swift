import Testing

@Test func placeholder_CameraTests() { #expect(Bool(true)) }
