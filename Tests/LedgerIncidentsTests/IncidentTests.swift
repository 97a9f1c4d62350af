import LedgerIncidents
import Testing
