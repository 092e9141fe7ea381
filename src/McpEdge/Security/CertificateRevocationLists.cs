using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace McpEdge.Security;

/// <summary>
/// Certificate revocation lists (RFC 5280 §5) from a PEM file of <c>-----BEGIN X509 CRL-----</c>
/// blocks, each signed by a CA of the client CA bundle, and the revocation check of a client
/// certificate's chain against them (<see cref="Check"/>). .NET offers no way to hand a chain a CRL
/// file (on Linux it reads only OpenSSL's cache directory, and online fetching is not what an edge
/// in a locked-down cluster may do), so the lists are read here with <see cref="AsnReader"/>.
/// </summary>
/// <remarks>
/// <para>Loading (<see cref="Load"/>) checks every CRL's signature with the key of a certificate of
/// the bundle whose subject is the CRL's issuer and whose key usage, if it has one, allows
/// <c>cRLSign</c> (RFC 5280 §4.2.1.3, §6.3.3 (f)–(g)). Signatures: RSA PKCS#1 v1.5 or ECDSA with
/// SHA-256, SHA-384 or SHA-512. A CRL whose issuer is no certificate of the bundle is set aside
/// (<see cref="Ignored"/>), since a CA bundle and its CRL file may be renewed a few seconds apart;
/// one that names a bundle CA but does not verify, is malformed, is a delta CRL (RFC 5280 §5.2.4),
/// an indirect CRL (§5.2.5, §5.3.3), limited to some revocation reasons, or carries another critical
/// extension, makes the whole file fail.</para>
/// <para>The issuing distribution point extension (§5.2.5) is honoured for scope: a CRL only for end
/// entities (or only for CAs) does not cover the other kind, and a CRL naming distribution points
/// covers a certificate only when the certificate's CRL distribution points extension (§4.2.1.13)
/// names one of them, or has none.</para>
/// </remarks>
public sealed class CertificateRevocationLists
{
    /// <summary>RFC 5280 §5.2.5, issuing distribution point.</summary>
    private const string IssuingDistributionPoint = "2.5.29.28";

    /// <summary>RFC 5280 §4.2.1.13, CRL distribution points.</summary>
    private const string CrlDistributionPoints = "2.5.29.31";

    private readonly Dictionary<string, List<Crl>> _byIssuerKey;

    private CertificateRevocationLists(Dictionary<string, List<Crl>> byIssuerKey, int count, int revoked, IReadOnlyList<string> ignored, DateTimeOffset? earliestNextUpdate)
    {
        _byIssuerKey = byIssuerKey;
        Count = count;
        Revoked = revoked;
        Ignored = ignored;
        EarliestNextUpdate = earliestNextUpdate;
    }

    /// <summary>The CRLs in use: those signed by a CA of the bundle.</summary>
    public int Count { get; }

    /// <summary>Revoked serial numbers over all CRLs in use.</summary>
    public int Revoked { get; }

    /// <summary>The issuers (distinguished names) of CRLs set aside because no certificate of the bundle has that subject.</summary>
    public IReadOnlyList<string> Ignored { get; }

    /// <summary>The earliest <c>nextUpdate</c> of the CRLs in use (UTC): after it, the certificates that CRL covers are refused until a newer CRL is loaded. Null when no CRL gives one.</summary>
    public DateTimeOffset? EarliestNextUpdate { get; }

    /// <summary>
    /// Reads every <c>X509 CRL</c> block of <paramref name="pem"/> (other blocks are skipped) and
    /// verifies each against <paramref name="authorities"/>; null with <paramref name="error"/> (a
    /// sentence naming the CRL's place in the file and its issuer) when the file holds no CRL, or a
    /// CRL that is malformed, of a kind not handled (see the remarks), or not signed by the bundle CA it names.
    /// </summary>
    /// <param name="pem">The CRL file's text.</param>
    /// <param name="authorities">The client CA bundle: roots and intermediates.</param>
    /// <param name="error">Why nothing was loaded.</param>
    public static CertificateRevocationLists? Load(string pem, X509Certificate2Collection authorities, out string? error)
    {
        error = null;
        var byIssuerKey = new Dictionary<string, List<Crl>>(StringComparer.Ordinal);
        var ignored = new List<string>();
        var (count, revoked, position) = (0, 0, 0);
        DateTimeOffset? earliest = null;
        var text = pem.AsSpan();
        while (PemEncoding.TryFind(text, out var fields))
        {
            var label = text[fields.Label];
            var base64 = text[fields.Base64Data];
            text = text[fields.Location.End.Value..];
            if (!label.SequenceEqual("X509 CRL"))
            {
                continue;
            }
            position++;
            var der = new byte[fields.DecodedDataLength];
            if (!Convert.TryFromBase64Chars(base64, der, out _))
            {
                error = $"CRL {position} of the file is not valid base64.";
                return null;
            }
            Crl crl;
            Signed signed;
            try
            {
                (crl, signed) = Parse(der);
            }
            catch (Exception e) when (e is AsnContentException or CryptographicException or NotSupportedException)
            {
                error = $"CRL {position} of the file is malformed or not handled: {e.Message}";
                return null;
            }
            var named = authorities.Where(a => a.SubjectName.RawData.AsSpan().SequenceEqual(crl.IssuerName.RawData)).ToList();
            if (named.Count == 0)
            {
                ignored.Add(crl.IssuerName.Name);
                continue;
            }
            var signers = named.Where(a => MaySignCrls(a) && Verifies(a, signed)).ToList();
            if (signers.Count == 0)
            {
                error = SignatureKind(signed.Algorithm) is not null
                    ? $"CRL {position} of the file (issuer {crl.IssuerName.Name}) is not signed by the key of the client CA of that name, or that CA's key usage does not allow signing CRLs."
                    : $"CRL {position} of the file (issuer {crl.IssuerName.Name}) has the signature algorithm {signed.Algorithm}; McpEdge checks RSA PKCS#1 v1.5 and ECDSA signatures with SHA-256, SHA-384 or SHA-512.";
                return null;
            }
            foreach (var key in signers.Select(IssuerKey).Distinct())
            {
                if (!byIssuerKey.TryGetValue(key, out var lists))
                {
                    byIssuerKey[key] = lists = [];
                }
                lists.Add(crl);
            }
            count++;
            revoked += crl.Revoked.Count;
            if (crl.NextUpdate is { } next && (earliest is null || next < earliest))
            {
                earliest = next;
            }
        }
        if (position == 0)
        {
            error = "the file holds no PEM CRL (-----BEGIN X509 CRL-----).";
            return null;
        }
        return new CertificateRevocationLists(byIssuerKey, count, revoked, ignored, earliest);
    }

    /// <summary>
    /// Checks a built chain (leaf first, root last): each certificate but the root must be covered by
    /// a CRL of its issuer that is current at <paramref name="now"/> (<c>thisUpdate</c> passed,
    /// <c>nextUpdate</c> not) and does not list its serial number (RFC 5280 §6.3.3). With
    /// <paramref name="leafOnly"/> only the first certificate is checked, as Envoy's
    /// <c>only_verify_leaf_cert_crl</c>. A missing, future or expired CRL fails the check, as OpenSSL
    /// (and nginx's <c>ssl_crl</c>) do: the edge cannot tell a revoked certificate from a good one without it.
    /// </summary>
    /// <returns>Null when the chain passes; otherwise why not, a sentence for the log.</returns>
    public string? Check(X509ChainElementCollection chain, bool leafOnly, DateTimeOffset now)
    {
        var last = leafOnly ? Math.Min(1, chain.Count - 1) : chain.Count - 1;
        for (var i = 0; i < last; i++)
        {
            var certificate = chain[i].Certificate;
            var issuer = chain[i + 1].Certificate;
            Crl? crl = null;
            if (_byIssuerKey.TryGetValue(IssuerKey(issuer), out var lists))
            {
                var isAuthority = certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault()?.CertificateAuthority == true;
                var points = DistributionPointNames(certificate);
                foreach (var candidate in lists)
                {
                    if (candidate.Covers(isAuthority, points) && (crl is null || candidate.ThisUpdate > crl.ThisUpdate))
                    {
                        crl = candidate;
                    }
                }
            }
            if (crl is null)
            {
                return $"no CRL of {issuer.Subject} in the client CRL file covers {certificate.Subject}";
            }
            if (now < crl.ThisUpdate)
            {
                return $"the CRL of {issuer.Subject} is not valid before {crl.ThisUpdate:u} (thisUpdate)";
            }
            if (crl.NextUpdate is { } next && next < now)
            {
                return $"the CRL of {issuer.Subject} expired at {next:u} (nextUpdate); the client CRL file needs a newer one";
            }
            var serial = Serial(certificate.SerialNumberBytes.Span);
            if (crl.Revoked.Contains(serial))
            {
                return $"{certificate.Subject} (serial {serial}) is revoked by the CRL of {issuer.Subject} issued {crl.ThisUpdate:u}";
            }
        }
        return null;
    }

    /// <summary>The CRL (what the checks need) and what its signature covers, which is needed only while it is verified at load.</summary>
    private static (Crl Crl, Signed Signed) Parse(byte[] der)
    {
        // RFC 5280 §5.1: CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
        var outer = new AsnReader(der, AsnEncodingRules.DER);
        var list = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        var tbsBytes = list.PeekEncodedValue().ToArray();
        var tbs = list.ReadSequence();
        var algorithm = ReadAlgorithm(list);
        var signature = list.ReadBitString(out _);
        list.ThrowIfNotEmpty();

        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer) && (!tbs.TryReadInt32(out var version) || version != 1))
        {
            throw new NotSupportedException("its version is not v2 (1).");
        }
        if (ReadAlgorithm(tbs) != algorithm)
        {
            throw new NotSupportedException("its two signature algorithm fields differ.");
        }
        var issuer = new X500DistinguishedName(tbs.ReadEncodedValue().Span);
        var thisUpdate = ReadTime(tbs);
        DateTimeOffset? nextUpdate = tbs.HasData && IsTime(tbs.PeekTag()) ? ReadTime(tbs) : null;
        var revoked = new HashSet<string>(StringComparer.Ordinal);
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            var entries = tbs.ReadSequence();
            while (entries.HasData)
            {
                var entry = entries.ReadSequence();
                var serial = Serial(entry.ReadIntegerBytes().Span);
                ReadTime(entry);
                if (entry.HasData)
                {
                    // §5.3: reasonCode and invalidityDate do not change the verdict; certificateIssuer (indirect CRL) is critical and refused below.
                    ReadExtensions(entry.ReadSequence(), static (oid, _) => throw new NotSupportedException($"an entry has the critical extension {oid} (an indirect CRL's certificateIssuer is not handled)."));
                }
                entry.ThrowIfNotEmpty();
                revoked.Add(serial);
            }
        }
        var scope = new Scope(false, false, null);
        if (tbs.HasData)
        {
            var explicitExtensions = tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
            ReadExtensions(explicitExtensions.ReadSequence(), (oid, value) =>
            {
                if (oid != IssuingDistributionPoint)
                {
                    throw new NotSupportedException(oid == "2.5.29.27"
                        ? "it is a delta CRL (deltaCRLIndicator); give the complete CRL."
                        : $"it has the critical extension {oid}.");
                }
            }, (oid, value) => scope = oid == IssuingDistributionPoint ? ReadScope(value) : scope);
            explicitExtensions.ThrowIfNotEmpty();
        }
        tbs.ThrowIfNotEmpty();
        return (new Crl(issuer, thisUpdate, nextUpdate, revoked, scope), new Signed(algorithm, tbsBytes, signature));
    }

    /// <summary>
    /// Reads an <c>Extensions</c> sequence: <paramref name="critical"/> sees each critical extension
    /// (it throws for those not handled), <paramref name="any"/> every extension.
    /// </summary>
    private static void ReadExtensions(AsnReader extensions, Action<string, byte[]> critical, Action<string, byte[]>? any = null)
    {
        while (extensions.HasData)
        {
            var extension = extensions.ReadSequence();
            var oid = extension.ReadObjectIdentifier();
            var isCritical = extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean();
            var value = extension.ReadOctetString();
            extension.ThrowIfNotEmpty();
            if (isCritical)
            {
                critical(oid, value);
            }
            any?.Invoke(oid, value);
        }
    }

    /// <summary>RFC 5280 §5.2.5: IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0], onlyContainsUserCerts [1], onlyContainsCACerts [2], onlySomeReasons [3], indirectCRL [4], onlyContainsAttributeCerts [5] }.</summary>
    private static Scope ReadScope(byte[] value)
    {
        var outer = new AsnReader(value, AsnEncodingRules.DER);
        var point = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        var (users, authorities) = (false, false);
        HashSet<string>? names = null;
        while (point.HasData)
        {
            var tag = point.PeekTag();
            if (tag.TagClass != TagClass.ContextSpecific)
            {
                throw new AsnContentException("its issuing distribution point is malformed.");
            }
            switch (tag.TagValue)
            {
                case 0:
                    names = FullNames(point.ReadSequence(tag));
                    break;
                case 1:
                    users = point.ReadBoolean(tag);
                    break;
                case 2:
                    authorities = point.ReadBoolean(tag);
                    break;
                case 4 when !point.ReadBoolean(tag):
                    break;
                default:
                    throw new NotSupportedException(tag.TagValue switch
                    {
                        3 => "it covers only some revocation reasons (onlySomeReasons); give a CRL for all reasons.",
                        4 => "it is an indirect CRL (indirectCRL).",
                        _ => "it covers only attribute certificates.",
                    });
            }
        }
        return new Scope(users, authorities, names);
    }

    /// <summary>
    /// The <c>fullName</c> GeneralNames of a DistributionPointName (§4.2.1.13), each as its encoding;
    /// a <c>nameRelativeToCRLIssuer</c> gives an empty set, which matches nothing but the absence of names.
    /// </summary>
    private static HashSet<string> FullNames(AsnReader distributionPointName)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (distributionPointName.HasData && distributionPointName.PeekTag() is { TagClass: TagClass.ContextSpecific, TagValue: 0 } fullName)
        {
            var generalNames = distributionPointName.ReadSequence(fullName);
            while (generalNames.HasData)
            {
                names.Add(Convert.ToHexString(generalNames.ReadEncodedValue().Span));
            }
        }
        return names;
    }

    /// <summary>The names of a certificate's CRL distribution points extension; null when it has none.</summary>
    private static HashSet<string>? DistributionPointNames(X509Certificate2 certificate)
    {
        if (certificate.Extensions[CrlDistributionPoints] is not { } extension)
        {
            return null;
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            var outer = new AsnReader(extension.RawData, AsnEncodingRules.DER);
            var points = outer.ReadSequence();
            while (points.HasData)
            {
                var point = points.ReadSequence();
                if (point.HasData && point.PeekTag() is { TagClass: TagClass.ContextSpecific, TagValue: 0 } name)
                {
                    names.UnionWith(FullNames(point.ReadSequence(name)));
                }
            }
        }
        catch (AsnContentException)
        {
            // A malformed extension names no point: only a CRL without distribution points covers the certificate.
        }
        return names;
    }

    private static string ReadAlgorithm(AsnReader reader)
    {
        var identifier = reader.ReadSequence();
        // The parameters (NULL for the RSA algorithms handled, absent for ECDSA) are not needed.
        return identifier.ReadObjectIdentifier();
    }

    private static bool IsTime(Asn1Tag tag) => tag.HasSameClassAndValue(Asn1Tag.UtcTime) || tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime);

    /// <summary>RFC 5280 §5.1.2.4: Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }.</summary>
    private static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();

    /// <summary>A serial number as upper-case hex without leading zero bytes, so a certificate's and a CRL entry's compare equal whatever padding either carries.</summary>
    private static string Serial(ReadOnlySpan<byte> bigEndian)
    {
        while (bigEndian.Length > 1 && bigEndian[0] == 0)
        {
            bigEndian = bigEndian[1..];
        }
        return Convert.ToHexString(bigEndian);
    }

    /// <summary>Whom a CRL belongs to: the issuer's subject and public key, so a re-issued CA certificate with the same key shares its CRLs.</summary>
    private static string IssuerKey(X509Certificate2 issuer)
    {
        var subject = issuer.SubjectName.RawData;
        var key = issuer.PublicKey.ExportSubjectPublicKeyInfo();
        var both = new byte[subject.Length + key.Length];
        subject.CopyTo(both, 0);
        key.CopyTo(both, subject.Length);
        return Convert.ToHexString(SHA256.HashData(both));
    }

    private static bool MaySignCrls(X509Certificate2 authority) =>
        authority.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is not { } usage
        || usage.KeyUsages.HasFlag(X509KeyUsageFlags.CrlSign);

    private static (HashAlgorithmName Hash, bool Ecdsa)? SignatureKind(string algorithm) => algorithm switch
    {
        "1.2.840.113549.1.1.11" => (HashAlgorithmName.SHA256, false),
        "1.2.840.113549.1.1.12" => (HashAlgorithmName.SHA384, false),
        "1.2.840.113549.1.1.13" => (HashAlgorithmName.SHA512, false),
        "1.2.840.10045.4.3.2" => (HashAlgorithmName.SHA256, true),
        "1.2.840.10045.4.3.3" => (HashAlgorithmName.SHA384, true),
        "1.2.840.10045.4.3.4" => (HashAlgorithmName.SHA512, true),
        _ => null,
    };

    private static bool Verifies(X509Certificate2 authority, Signed crl)
    {
        if (SignatureKind(crl.Algorithm) is not var (hash, ecdsa))
        {
            return false;
        }
        if (ecdsa)
        {
            using var ec = authority.GetECDsaPublicKey();
            return ec is not null && ec.VerifyData(crl.ToBeSigned, crl.Signature, hash, DSASignatureFormat.Rfc3279DerSequence);
        }
        using var rsa = authority.GetRSAPublicKey();
        return rsa is not null && rsa.VerifyData(crl.ToBeSigned, crl.Signature, hash, RSASignaturePadding.Pkcs1);
    }

    /// <summary>What a CRL covers (§5.2.5); no issuing distribution point: everything its issuer issued.</summary>
    private sealed record Scope(bool OnlyEndEntities, bool OnlyAuthorities, HashSet<string>? Points);

    /// <summary>A CRL's signature algorithm, its encoded <c>tbsCertList</c> and its signature (RFC 5280 §5.1.1).</summary>
    private sealed record Signed(string Algorithm, byte[] ToBeSigned, byte[] Signature);

    private sealed record Crl(X500DistinguishedName IssuerName, DateTimeOffset ThisUpdate, DateTimeOffset? NextUpdate, HashSet<string> Revoked, Scope Scope)
    {
        /// <summary>RFC 5280 §6.3.3 (b): the CRL's scope against the certificate's kind and distribution points.</summary>
        public bool Covers(bool isAuthority, HashSet<string>? certificatePoints) =>
            !(isAuthority ? Scope.OnlyEndEntities : Scope.OnlyAuthorities)
            && (Scope.Points is null || certificatePoints is null || Scope.Points.Overlaps(certificatePoints));
    }
}
