import LedgerDetectors
import Testing

@Suite struct AlertVocabularyTests {
    @Test func kindsUseTheNamesSpendDetectPrints() {
        #expect(AlertKind.allCases.map(\.rawValue) == ["velocity", "spike", "retry_storm", "loop", "burn_rate", "mix_shift"])
        #expect(DetectorAction.allCases.map(\.rawValue) == ["notify", "halt_run", "pause_agent"])
    }
}
