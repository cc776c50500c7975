@_exported import DigitNN
