using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace McpEdge.Tests.Infrastructure;

/// <summary>
/// A test certificate authority (a root and an intermediate, ECDSA P-256, no AIA, so a client can
/// build a chain only from what the server sends) issuing certificates for 127.0.0.1, written as the
/// PEM files of a Kubernetes TLS secret (<c>tls.crt</c>: the certificate then the intermediate;
/// <c>tls.key</c>: PKCS#8), in a temporary directory deleted on dispose.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly ECDsa _rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _intermediate;
    private int _serial;

    public TestCertificates()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("mcpedge-tls-").FullName;
        var now = DateTimeOffset.UtcNow;
        var rootRequest = new CertificateRequest("CN=McpEdge test root", _rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        Root = rootRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddHours(2));

        var intermediateRequest = new CertificateRequest("CN=McpEdge test intermediate", _intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        _intermediate = intermediateRequest.Create(Root, now.AddMinutes(-4), now.AddHours(1), [1]).CopyWithPrivateKey(_intermediateKey);
        CertificateFile = Path.Combine(Directory, "tls.crt");
        KeyFile = Path.Combine(Directory, "tls.key");
    }

    /// <summary>The directory holding the files.</summary>
    public string Directory { get; }

    /// <summary>The root, the only certificate a client of <see cref="TrustingOnlyTheRoot"/> trusts.</summary>
    public X509Certificate2 Root { get; }

    /// <summary><c>tls.crt</c>.</summary>
    public string CertificateFile { get; }

    /// <summary><c>tls.key</c>.</summary>
    public string KeyFile { get; }

    /// <summary>A new server certificate for 127.0.0.1 with subject <c>CN={name}</c>, and its key.</summary>
    public (X509Certificate2 Certificate, ECDsa Key) Issue(string name)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var now = DateTimeOffset.UtcNow;
        var certificate = request.Create(_intermediate, now.AddMinutes(-3), now.AddMinutes(50), [2, (byte)Interlocked.Increment(ref _serial)]);
        return (certificate, key);
    }

    /// <summary>A new client certificate (extended key usage: client authentication) with subject <c>CN={name}</c>, and its key.</summary>
    public (X509Certificate2 Certificate, ECDsa Key) IssueClient(string name)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        var now = DateTimeOffset.UtcNow;
        var certificate = request.Create(_intermediate, now.AddMinutes(-3), now.AddMinutes(50), [3, (byte)Interlocked.Increment(ref _serial)]);
        return (certificate, key);
    }

    /// <summary>The intermediate CA (with its key), which issues every certificate of <see cref="Issue"/> and <see cref="IssueClient"/>.</summary>
    public X509Certificate2 Intermediate => _intermediate;

    /// <summary>
    /// A CRL (PEM) of the root (<paramref name="ofRoot"/>) or of the intermediate, signed by its key,
    /// listing <paramref name="revoked"/>; current from 5 minutes ago for an hour unless told otherwise.
    /// </summary>
    public string Crl(bool ofRoot, IEnumerable<X509Certificate2> revoked, DateTimeOffset? thisUpdate = null, DateTimeOffset? nextUpdate = null)
    {
        var now = DateTimeOffset.UtcNow;
        var builder = new CertificateRevocationListBuilder();
        foreach (var certificate in revoked)
        {
            builder.AddEntry(certificate, now.AddMinutes(-1), X509RevocationReason.KeyCompromise);
        }
        var der = builder.Build(ofRoot ? Root : _intermediate, Interlocked.Increment(ref _serial), nextUpdate ?? now.AddHours(1), HashAlgorithmName.SHA256, thisUpdate: thisUpdate ?? now.AddMinutes(-5));
        return PemEncoding.WriteString("X509 CRL", der) + "\n";
    }

    /// <summary>Writes <paramref name="pem"/> as <c>clients.crl</c>, replacing it at once, and returns its path.</summary>
    public string WriteCrlFile(string pem)
    {
        var file = Path.Combine(Directory, "clients.crl");
        Replace(file, pem);
        return file;
    }

    /// <summary>Writes <see cref="Root"/> as <c>ca.crt</c> (a CA bundle of one) and returns its path.</summary>
    public string WriteRoot()
    {
        var file = Path.Combine(Directory, "ca.crt");
        Replace(file, Root.ExportCertificatePem() + "\n");
        return file;
    }

    /// <summary>Writes the root and the intermediate as <c>clients-ca.crt</c> (a client CA bundle) and returns its path.</summary>
    public string WriteCaBundle()
    {
        var file = Path.Combine(Directory, "clients-ca.crt");
        Replace(file, Root.ExportCertificatePem() + "\n" + _intermediate.ExportCertificatePem() + "\n");
        return file;
    }

    /// <summary>Writes <c>tls.crt</c> (the certificate, then the intermediate), replacing it at once.</summary>
    public void WriteCertificate(X509Certificate2 certificate) =>
        Replace(CertificateFile, certificate.ExportCertificatePem() + "\n" + _intermediate.ExportCertificatePem() + "\n");

    /// <summary>Writes <c>tls.key</c>, replacing it at once.</summary>
    public void WriteKey(ECDsa key) => Replace(KeyFile, key.ExportPkcs8PrivateKeyPem());

    /// <summary>The password file beside the key (<c>tls.key.password</c>).</summary>
    public string PasswordFile => Path.Combine(Directory, "tls.key.password");

    /// <summary>
    /// Writes <c>tls.key</c> as encrypted PKCS#8 (PBES2, AES-256-CBC, PBKDF2-SHA256) under
    /// <paramref name="password"/>, and <see cref="PasswordFile"/> with <paramref name="filePassword"/>
    /// (the same unless a test wants them apart) and a line end, as <c>echo</c> writes it.
    /// </summary>
    public void WriteEncryptedKey(ECDsa key, string password, string? filePassword = null)
    {
        Replace(KeyFile, key.ExportEncryptedPkcs8PrivateKeyPem(password, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000)));
        Replace(PasswordFile, (filePassword ?? password) + "\n");
    }

    /// <summary>
    /// Writes beside the file and renames over it, so that an edge looking at the files on its timer
    /// never reads a half-written one (as a Kubernetes secret volume swaps its files in one rename).
    /// </summary>
    private static void Replace(string file, string text)
    {
        var next = file + ".next";
        File.WriteAllText(next, text);
        File.Move(next, file, overwrite: true);
    }

    /// <summary>Issues a certificate and writes both files.</summary>
    public X509Certificate2 IssueAndWrite(string name)
    {
        var (certificate, key) = Issue(name);
        WriteCertificate(certificate);
        WriteKey(key);
        return certificate;
    }

    /// <summary>
    /// A client handler that trusts only <see cref="Root"/> (so the handshake fails unless the server
    /// sends the intermediate) and reports the certificate each new connection was given.
    /// </summary>
    public SocketsHttpHandler TrustingOnlyTheRoot(Action<X509Certificate2>? presented = null)
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(Root);
        return new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = policy,
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (certificate is not null)
                    {
                        presented?.Invoke(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
                    }
                    return errors == SslPolicyErrors.None;
                },
            },
        };
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _rootKey.Dispose();
        _intermediateKey.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
