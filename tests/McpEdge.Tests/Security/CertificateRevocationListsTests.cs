using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using McpEdge.Security;
using McpEdge.Tests.Infrastructure;

namespace McpEdge.Tests.Security;

/// <summary>
/// Tls:ClientCrlFile's lists (RFC 5280 §5, §6.3.3): which CRLs load, which client chains they
/// refuse, and why. CRLs come from .NET's <see cref="CertificateRevocationListBuilder"/> and, for
/// the extensions it cannot write, from <see cref="HandCa"/>.
/// </summary>
public sealed class CertificateRevocationListsTests : IDisposable
{
    private readonly TestCertificates _ca = new();
    private readonly X509Certificate2 _good;
    private readonly X509Certificate2 _bad;
    private readonly List<X509Chain> _chains = [];

    public CertificateRevocationListsTests()
    {
        _good = _ca.IssueClient("good").Certificate;
        _bad = _ca.IssueClient("bad").Certificate;
    }

    private static DateTimeOffset Now => DateTimeOffset.UtcNow;

    private X509Certificate2Collection Bundle => [_ca.Root, _ca.Intermediate];

    private X509ChainElementCollection ChainOf(X509Certificate2 leaf, X509Certificate2? root = null, params X509Certificate2[] intermediates)
    {
        var chain = new X509Chain();
        _chains.Add(chain);
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.Add(root ?? _ca.Root);
        chain.ChainPolicy.ExtraStore.AddRange(root is null ? [_ca.Intermediate] : intermediates);
        Assert.True(chain.Build(leaf), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        return chain.ChainElements;
    }

    private static CertificateRevocationLists Load(string pem, X509Certificate2Collection bundle) =>
        CertificateRevocationLists.Load(pem, bundle, out var error) ?? throw new Xunit.Sdk.XunitException(error);

    private static string LoadError(string pem, X509Certificate2Collection bundle)
    {
        Assert.Null(CertificateRevocationLists.Load(pem, bundle, out var error));
        return error!;
    }

    [Fact]
    public void ARevokedClientCertificate_IsRefused_AndTheOthersOfItsIssuerPass()
    {
        var lists = Load(_ca.Crl(ofRoot: true, []) + _ca.Crl(ofRoot: false, [_bad]), Bundle);

        Assert.Equal((2, 1), (lists.Count, lists.Revoked));
        Assert.Null(lists.Check(ChainOf(_good), leafOnly: false, Now));
        var refused = lists.Check(ChainOf(_bad), leafOnly: false, Now);
        Assert.StartsWith($"CN=bad (serial {_bad.SerialNumber}) is revoked by the CRL of CN=McpEdge test intermediate", refused);
    }

    [Fact]
    public void ARevokedIntermediate_RefusesEveryCertificateItIssued_UnlessOnlyTheLeafIsChecked()
    {
        var lists = Load(_ca.Crl(ofRoot: true, [_ca.Intermediate]) + _ca.Crl(ofRoot: false, []), Bundle);

        Assert.StartsWith("CN=McpEdge test intermediate (serial 01) is revoked by the CRL of CN=McpEdge test root", lists.Check(ChainOf(_good), leafOnly: false, Now));
        Assert.Null(lists.Check(ChainOf(_good), leafOnly: true, Now));
    }

    [Fact]
    public void AnIssuerWithoutACrl_FailsTheChainCheck_ButNotTheLeafCheckWhenItIsTheRoot()
    {
        var intermediateOnly = Load(_ca.Crl(ofRoot: false, []), Bundle);
        Assert.Equal("no CRL of CN=McpEdge test root in the client CRL file covers CN=McpEdge test intermediate", intermediateOnly.Check(ChainOf(_good), leafOnly: false, Now));
        Assert.Null(intermediateOnly.Check(ChainOf(_good), leafOnly: true, Now));

        var rootOnly = Load(_ca.Crl(ofRoot: true, []), Bundle);
        Assert.Equal("no CRL of CN=McpEdge test intermediate in the client CRL file covers CN=good", rootOnly.Check(ChainOf(_good), leafOnly: true, Now));
    }

    [Fact]
    public void AnExpiredOrFutureCrl_RefusesWhatItCovers_AndTheNewestCrlOfAnIssuerCounts()
    {
        var root = _ca.Crl(ofRoot: true, []);
        var expired = _ca.Crl(ofRoot: false, [], thisUpdate: Now.AddHours(-3), nextUpdate: Now.AddHours(-2));
        var lists = Load(root + expired, Bundle);
        Assert.Equal(Now.AddHours(-2).ToUnixTimeSeconds(), lists.EarliestNextUpdate!.Value.ToUnixTimeSeconds(), tolerance: 5);
        Assert.Contains("the CRL of CN=McpEdge test intermediate expired at", lists.Check(ChainOf(_good), leafOnly: false, Now));

        var future = Load(root + _ca.Crl(ofRoot: false, [], thisUpdate: Now.AddMinutes(10)), Bundle);
        Assert.Contains("the CRL of CN=McpEdge test intermediate is not valid before", future.Check(ChainOf(_good), leafOnly: false, Now));

        // An older list that has expired and a current one that revokes _bad: the current one decides.
        var both = Load(root + expired + _ca.Crl(ofRoot: false, [_bad]), Bundle);
        Assert.Null(both.Check(ChainOf(_good), leafOnly: false, Now));
        Assert.Contains("is revoked", both.Check(ChainOf(_bad), leafOnly: false, Now));
    }

    [Fact]
    public void FilesThatAreNotCrlsOfTheBundle_DoNotLoad_AndCrlsOfOtherIssuersAreSetAside()
    {
        Assert.Equal("the file holds no PEM CRL (-----BEGIN X509 CRL-----).", LoadError(_ca.Root.ExportCertificatePem(), Bundle));
        Assert.StartsWith("CRL 1 of the file is malformed or not handled", LoadError(PemEncoding.WriteString("X509 CRL", [0x30, 0x03, 0x02, 0x01, 0x01]), Bundle));

        // Another CA whose intermediate has the same name: its CRL names our intermediate but is not signed by its key.
        using var impostor = new TestCertificates();
        Assert.Equal("CRL 2 of the file (issuer CN=McpEdge test intermediate) is not signed by the key of the client CA of that name, or that CA's key usage does not allow signing CRLs.",
            LoadError(_ca.Crl(ofRoot: true, []) + impostor.Crl(ofRoot: false, []), Bundle));

        // Certificates between the CRLs are skipped; a CRL of a CA outside the bundle is set aside.
        using var elsewhere = new HandCa("CN=elsewhere");
        var lists = Load(_ca.Crl(ofRoot: true, []) + _ca.Root.ExportCertificatePem() + "\n" + elsewhere.Crl([]) + _ca.Crl(ofRoot: false, [_bad]), Bundle);
        Assert.Equal(2, lists.Count);
        Assert.Equal(["CN=elsewhere"], lists.Ignored);
        Assert.Contains("is revoked", lists.Check(ChainOf(_bad), leafOnly: false, Now));
    }

    [Fact]
    public void CrlsOfAnRsaCa_AreVerified_AndUnhandledSignatureAlgorithmsAreNamed()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=RSA CA", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var ca = request.CreateSelfSigned(Now.AddMinutes(-5), Now.AddHours(1));
        using var leafKey = RSA.Create(2048);
        using var leaf = new CertificateRequest("CN=rsa-client", leafKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).Create(ca, Now.AddMinutes(-5), Now.AddMinutes(50), [7, 7]);
        var builder = new CertificateRevocationListBuilder();
        builder.AddEntry(leaf);

        var pkcs1 = PemEncoding.WriteString("X509 CRL", builder.Build(ca, 1, Now.AddHours(1), HashAlgorithmName.SHA384, RSASignaturePadding.Pkcs1));
        Assert.StartsWith("CN=rsa-client (serial 0707) is revoked", Load(pkcs1, [ca]).Check(ChainOf(leaf, ca), leafOnly: false, Now));

        var pss = PemEncoding.WriteString("X509 CRL", builder.Build(ca, 2, Now.AddHours(1), HashAlgorithmName.SHA256, RSASignaturePadding.Pss));
        Assert.Equal("CRL 1 of the file (issuer CN=RSA CA) has the signature algorithm 1.2.840.113549.1.1.10; McpEdge checks RSA PKCS#1 v1.5 and ECDSA signatures with SHA-256, SHA-384 or SHA-512.", LoadError(pss, [ca]));

        // A CA whose key usage does not include cRLSign cannot vouch for a CRL, even one its key signed.
        var noCrlSign = new CertificateRequest("CN=RSA CA", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        noCrlSign.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var certSignOnly = noCrlSign.CreateSelfSigned(Now.AddMinutes(-5), Now.AddHours(1));
        Assert.Contains("does not allow signing CRLs", LoadError(pkcs1, [certSignOnly]));
    }

    [Fact]
    public void DeltaIndirectAndPartialCrls_AndUnknownCriticalExtensions_DoNotLoad()
    {
        using var ca = new HandCa("CN=Hand CA");
        string Error(params (string Oid, bool Critical, byte[] Value)[] extensions) => LoadError(ca.Crl([], extensions), [ca.Certificate]);

        Assert.EndsWith("it is a delta CRL (deltaCRLIndicator); give the complete CRL.", Error(("2.5.29.27", true, HandCa.Integer(4))));
        Assert.EndsWith("it has the critical extension 1.2.3.4.", Error(("1.2.3.4", true, [0x05, 0x00])));
        Assert.EndsWith("it covers only some revocation reasons (onlySomeReasons); give a CRL for all reasons.", Error(("2.5.29.28", true, HandCa.IssuingDistributionPoint(onlySomeReasons: true))));
        Assert.EndsWith("it is an indirect CRL (indirectCRL).", Error(("2.5.29.28", true, HandCa.IssuingDistributionPoint(indirect: true))));
        // An unknown extension that is not critical is no reason to refuse (RFC 5280 §5.2).
        Assert.Equal(1, Load(ca.Crl([], ("1.2.3.4", false, [0x05, 0x00])), [ca.Certificate]).Count);
    }

    [Fact]
    public void AnIssuingDistributionPoint_LimitsWhichCertificatesTheCrlCovers()
    {
        using var ca = new HandCa("CN=Hand CA");
        using var inA = ca.Issue("in-a", "http://crl.example/a.crl");
        using var withoutPoints = ca.Issue("anywhere", null);
        X509Certificate2Collection bundle = [ca.Certificate];
        var crlA = ca.Crl([inA.SerialNumberBytes.ToArray()], ("2.5.29.28", true, HandCa.IssuingDistributionPoint(uri: "http://crl.example/a.crl")));
        var crlB = ca.Crl([], ("2.5.29.28", true, HandCa.IssuingDistributionPoint(uri: "http://crl.example/b.crl")));

        Assert.Contains("is revoked", Load(crlA, bundle).Check(ChainOf(inA, ca.Certificate), leafOnly: false, Now));
        // The partition of b.crl does not cover a certificate that names a.crl: no CRL covers it, so it is refused.
        Assert.StartsWith("no CRL of CN=Hand CA", Load(crlB, bundle).Check(ChainOf(inA, ca.Certificate), leafOnly: false, Now));
        // A certificate naming no distribution point is covered by either.
        Assert.Null(Load(crlB, bundle).Check(ChainOf(withoutPoints, ca.Certificate), leafOnly: false, Now));

        // A CRL only for CA certificates does not cover a client certificate; one only for end entities does.
        var caOnly = ca.Crl([], ("2.5.29.28", true, HandCa.IssuingDistributionPoint(onlyCas: true)));
        Assert.StartsWith("no CRL of CN=Hand CA", Load(caOnly, bundle).Check(ChainOf(withoutPoints, ca.Certificate), leafOnly: false, Now));
        var usersOnly = ca.Crl([], ("2.5.29.28", true, HandCa.IssuingDistributionPoint(onlyUsers: true)));
        Assert.Null(Load(usersOnly, bundle).Check(ChainOf(withoutPoints, ca.Certificate), leafOnly: false, Now));
    }

    public void Dispose()
    {
        foreach (var chain in _chains)
        {
            chain.Dispose();
        }
        _ca.Dispose();
    }

    /// <summary>A self-signed ECDSA CA that writes CRLs field by field (RFC 5280 §5.1), with any extension.</summary>
    private sealed class HandCa : IDisposable
    {
        private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        private int _serial;

        public HandCa(string name)
        {
            var request = new CertificateRequest(name, _key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            Certificate = request.CreateSelfSigned(Now.AddMinutes(-5), Now.AddHours(1));
        }

        public X509Certificate2 Certificate { get; }

        public X509Certificate2 Issue(string name, string? distributionPoint)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
            if (distributionPoint is not null)
            {
                request.CertificateExtensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension([distributionPoint]));
            }
            return request.Create(Certificate, Now.AddMinutes(-5), Now.AddMinutes(50), [9, (byte)++_serial]);
        }

        public string Crl(IEnumerable<byte[]> revoked, params (string Oid, bool Critical, byte[] Value)[] extensions)
        {
            var tbs = new AsnWriter(AsnEncodingRules.DER);
            using (tbs.PushSequence())
            {
                tbs.WriteInteger(1);
                using (tbs.PushSequence())
                {
                    tbs.WriteObjectIdentifier("1.2.840.10045.4.3.2");
                }
                tbs.WriteEncodedValue(Certificate.SubjectName.RawData);
                tbs.WriteUtcTime(Now.AddMinutes(-5));
                tbs.WriteUtcTime(Now.AddHours(1));
                if (revoked.Any())
                {
                    using (tbs.PushSequence())
                    {
                        foreach (var serial in revoked)
                        {
                            using (tbs.PushSequence())
                            {
                                tbs.WriteIntegerUnsigned(serial);
                                tbs.WriteUtcTime(Now.AddMinutes(-1));
                            }
                        }
                    }
                }
                if (extensions.Length > 0)
                {
                    using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                    using (tbs.PushSequence())
                    {
                        foreach (var (oid, critical, value) in extensions)
                        {
                            using (tbs.PushSequence())
                            {
                                tbs.WriteObjectIdentifier(oid);
                                if (critical)
                                {
                                    tbs.WriteBoolean(true);
                                }
                                tbs.WriteOctetString(value);
                            }
                        }
                    }
                }
            }
            var signed = tbs.Encode();
            var crl = new AsnWriter(AsnEncodingRules.DER);
            using (crl.PushSequence())
            {
                crl.WriteEncodedValue(signed);
                using (crl.PushSequence())
                {
                    crl.WriteObjectIdentifier("1.2.840.10045.4.3.2");
                }
                crl.WriteBitString(_key.SignData(signed, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
            }
            return PemEncoding.WriteString("X509 CRL", crl.Encode()) + "\n";
        }

        public static byte[] Integer(int value)
        {
            var writer = new AsnWriter(AsnEncodingRules.DER);
            writer.WriteInteger(value);
            return writer.Encode();
        }

        /// <summary>RFC 5280 §5.2.5, with the fields asked for.</summary>
        public static byte[] IssuingDistributionPoint(string? uri = null, bool onlyUsers = false, bool onlyCas = false, bool onlySomeReasons = false, bool indirect = false)
        {
            var writer = new AsnWriter(AsnEncodingRules.DER);
            using (writer.PushSequence())
            {
                if (uri is not null)
                {
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                    {
                        writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6));
                    }
                }
                if (onlyUsers)
                {
                    writer.WriteBoolean(true, new Asn1Tag(TagClass.ContextSpecific, 1));
                }
                if (onlyCas)
                {
                    writer.WriteBoolean(true, new Asn1Tag(TagClass.ContextSpecific, 2));
                }
                if (onlySomeReasons)
                {
                    writer.WriteBitString([0x40], 0, new Asn1Tag(TagClass.ContextSpecific, 3));
                }
                if (indirect)
                {
                    writer.WriteBoolean(true, new Asn1Tag(TagClass.ContextSpecific, 4));
                }
            }
            return writer.Encode();
        }

        public void Dispose()
        {
            Certificate.Dispose();
            _key.Dispose();
        }
    }
}
