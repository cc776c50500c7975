/// NumPy objects inside pickles (fairseq and other checkpoints keep arrays and scalars):
/// `numpy.dtype(...)` + BUILD state, `numpy.core.multiarray.scalar(dtype, bytes)`, and
/// `_reconstruct(ndarray, (0,), b'b')` + BUILD `(version, shape, dtype, is_fortran, raw bytes)`.
enum NumpyPickle {
    /// The element type and byte order of a pickled `numpy.dtype` object.
    static func dtype(_ v: PickleValue) -> (DType, bigEndian: Bool)? {
        guard case let .object(o) = v, o.className == "numpy.dtype", let code = o.args.first?.stringValue else { return nil }
        var order = "|"
        if let st = o.state?.sequence, st.count > 1, let s = st[1].stringValue { order = s }
        guard let (dt, _) = try? NPY.parseDescr((order == ">" ? ">" : "<") + code, path: "") else { return nil }
        return (dt, order == ">")
    }

    /// `numpy.core.multiarray.scalar(dtype, bytes)` as a Python number, or an opaque object.
    static func scalar(_ a: [PickleValue]) -> PickleValue {
        let opaque = PickleValue.object(PyObject(className: "numpy.core.multiarray.scalar", args: a))
        guard a.count == 2, let (dt, big) = dtype(a[0]), case let .bytes(b) = a[1], b.count == dt.size else { return opaque }
        let arr = NPYArray(dtype: dt, shape: [], data: big ? b.reversed() : b)
        switch dt {
        case .float32, .float64, .float16, .bfloat16: return .float(arr.doubles()[0])
        case .bool: return .bool(b[0] != 0)
        default: return .int(arr.int64s()[0])
        }
    }

    /// The array described by an ndarray's BUILD state, if it is a plain numeric array.
    static func array(_ state: PickleValue) -> NPYArray? {
        guard let st = state.sequence, st.count == 5, let dims = st[1].sequence, let (dt, big) = dtype(st[2]),
            case let .bool(fortran) = st[3], case let .bytes(data) = st[4]
        else { return nil }
        var shape: [Int] = []
        for d in dims {
            guard let x = d.intValue, x >= 0, x < (1 << 40) else { return nil }
            shape.append(Int(x))
        }
        guard let n = SafeTensors.checkedCount(shape), n * dt.size == data.count else { return nil }
        let stride = fortran ? RawView.fortranStrides(shape) : RawView.contiguousStrides(shape)
        let buf = ByteBuffer(copying: data, path: "")
        return RawView(buffer: buf, byteOffset: 0, dtype: dt, shape: shape, stride: stride, bigEndian: big && dt.size > 1).array()
    }
}
